"""Decoding dataset rows into fixed-size uint8 tensors, with errors that name the row."""

import io
from collections.abc import Callable

import numpy as np
import PIL.Image
import torch
from datasets import Dataset, Image


class CorruptImageError(ValueError):
    """An image in a dataset could not be decoded; the message names the split, the row index and the column."""


class DecodedImageDataset(torch.utils.data.Dataset):
    """A map-style view of a `datasets.Dataset` yielding `{"image": float (3, size, size) in [0, 1], "label": int}`.

    Images are decoded here rather than by `datasets` so that a corrupt or truncated file raises
    `CorruptImageError` naming its split and index at the moment it is read (never skipped, never a crash deep in
    a worker). Every image is converted to RGB and resized to `image_size` with `resample` (the image processor's),
    so that a batch stacks. `batch_transform` (a `BatchAugmentation` for training) is applied to each fetched
    batch at once: `Trainer`'s DataLoader fetches whole batches through `__getitems__` (the recipe's, through
    `fetch` with a seed per image), in its worker processes, so augmentation is batched and never runs on
    evaluation data. It is called as `batch_transform(images)`, or `batch_transform(images, sample_seeds=seeds)`
    when `fetch` is given seeds.
    """

    def __init__(
        self,
        dataset: Dataset,
        split: str,
        image_column: str,
        label_column: str,
        image_size: int,
        resample: int = PIL.Image.BILINEAR,
        batch_transform: Callable[..., torch.Tensor] | None = None,
    ) -> None:
        self.dataset = dataset.cast_column(image_column, Image(decode=False))
        self.split = split
        self.image_column = image_column
        self.label_column = label_column
        self.image_size = image_size
        self.resample = resample
        self.batch_transform = batch_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def decode(self, value: dict, index: int) -> torch.Tensor:
        try:
            source = io.BytesIO(value["bytes"]) if value.get("bytes") is not None else value["path"]
            with PIL.Image.open(source) as image:
                image.load()
                image = image.convert("RGB")
        except (OSError, ValueError, SyntaxError, TypeError, KeyError) as error:
            raise CorruptImageError(
                f"cannot decode the image at index {index} of split '{self.split}' "
                f"(column '{self.image_column}'): {type(error).__name__}: {error}"
            ) from error
        if image.size != (self.image_size, self.image_size):
            image = image.resize((self.image_size, self.image_size), self.resample)
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[dict]:
        return self.fetch(indices)

    def fetch(self, indices: list[int], sample_seeds: list[int] | None = None) -> list[dict]:
        """The examples at `indices`; `sample_seeds` (one per example) go to the batch transform, which draws each
        image's augmentation from its seed (`BatchAugmentation`)."""
        # One Arrow read for the whole batch instead of one per row.
        rows = self.dataset[indices]
        values = rows[self.image_column]
        images = torch.stack([self.decode(value, index) for index, value in zip(indices, values, strict=True)])
        images = images.float().div_(255.0)
        if self.batch_transform is not None:
            seeds = {} if sample_seeds is None else {"sample_seeds": sample_seeds}
            images = self.batch_transform(images, **seeds)
        return [{"image": image, "label": label} for image, label in zip(images, rows[self.label_column], strict=True)]
