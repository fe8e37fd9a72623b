"""Decoding dataset rows into fixed-size uint8 tensors, with errors that name the row."""

import io
from collections.abc import Callable

import numpy as np
import PIL.Image
import torch
from datasets import Dataset, Image


class CorruptImageError(ValueError):
    """An image in a dataset could not be decoded; the message names the split, the row index, the column and the
    file (where the dataset records one: image folders do)."""


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
        keep_decoded: bool = False,
    ) -> None:
        self.dataset = dataset.cast_column(image_column, Image(decode=False))
        self.keep_decoded = keep_decoded
        # With keep_decoded: every image decoded so far, as uint8 (3 x size x size bytes each), and which are.
        self.decoded: torch.Tensor | None = None
        self.is_decoded: torch.Tensor | None = None
        self.labels: list[int] | None = None
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
            path = value.get("path") if isinstance(value, dict) else None
            file = f" (file {path})" if path else ""
            raise CorruptImageError(
                f"cannot decode the image at index {index}{file} of split '{self.split}' "
                f"(column '{self.image_column}'): {type(error).__name__}: {error}"
            ) from error
        if image.size != (self.image_size, self.image_size):
            image = image.resize((self.image_size, self.image_size), self.resample)
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[dict]:
        return self.fetch(indices)

    def fetch(self, indices: list[int], sample_seeds: list[int] | None = None, epoch: int | None = None) -> list[dict]:
        """The examples at `indices`; `sample_seeds` (one per example), the indices and `epoch` go to the batch
        transform, which draws each image's augmentation from its seed and flips by index and epoch
        (`BatchAugmentation`)."""
        images, labels = self.decoded_batch(indices)
        images = images.float().div_(255.0)
        if self.batch_transform is not None:
            seeds = {} if sample_seeds is None else {"sample_seeds": sample_seeds}
            if epoch is not None:
                seeds.update(sample_indices=list(indices), epoch=epoch)
            images = self.batch_transform(images, **seeds)
        return [{"image": image, "label": label} for image, label in zip(images, labels, strict=True)]

    def decoded_batch(self, indices: list[int]) -> tuple[torch.Tensor, list[int]]:
        """The uint8 images `(batch, 3, size, size)` and the labels at `indices`. With `keep_decoded`, an image is
        decoded on its first fetch and kept in memory (the fastest CIFAR recipes keep the data as tensors), so an
        epoch after the first reads no file and decodes nothing; the labels column is read once."""
        if not self.keep_decoded:
            rows = self.dataset[indices]  # one Arrow read for the whole batch instead of one per row
            values = rows[self.image_column]
            images = [self.decode(value, index) for index, value in zip(indices, values, strict=True)]
            return torch.stack(images), rows[self.label_column]
        if self.decoded is None:
            self.decoded = torch.empty(len(self), 3, self.image_size, self.image_size, dtype=torch.uint8)
            self.is_decoded = torch.zeros(len(self), dtype=torch.bool)
            self.labels = list(self.dataset[self.label_column])
        positions = torch.tensor(indices, dtype=torch.long)
        missing = [index for index in indices if not self.is_decoded[index]]
        if missing:
            values = self.dataset[missing][self.image_column]
            for index, value in zip(missing, values, strict=True):
                self.decoded[index] = self.decode(value, index)
            self.is_decoded[missing] = True
        return self.decoded[positions], [self.labels[index] for index in indices]
