"""The masked-image-modeling collator: masking in the data path, as SimMIM's and transformers' `run_mim.py`."""

import torch
from transformers import PreTrainedConfig

from ..models.masked_image_modeling import MaskGenerator
from .augmentation import ImageClassificationCollator


class MaskedImageModelingCollator(ImageClassificationCollator):
    """Stacks and normalises decoded `[0, 1]` images like `ImageClassificationCollator` and draws every image's mask
    with `mask_generator` over its grid of `mask_patch_size` patches. Returns `pixel_values` and `bool_masked_pos`
    `(batch, N)`, the inputs of every `...ForMaskedImageModeling`; labels, if the examples have them, are dropped.

    `from_config(config, image_mean, image_std)` builds the collator a model's config asks for (`mim_mask_ratio`,
    `mim_masking`, `mim_patch_size`). Masks come from `generator` or, when it is `None` (the default, for
    training), from torch's global generator, which `Trainer` seeds and DataLoader workers seed per worker; a
    `generator` gives the same masks on every pass (a fixed evaluation set), but is copied into each DataLoader
    worker, so use it with `dataloader_num_workers=0`. Masks are drawn per batch (`per_batch_draws`).
    """

    per_batch_draws = "masked-image-modeling masks"

    def __init__(
        self,
        image_mean: tuple[float, ...],
        image_std: tuple[float, ...],
        mask_generator: MaskGenerator,
        mask_patch_size: int,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(image_mean, image_std)
        self.mask_generator = mask_generator
        self.mask_patch_size = mask_patch_size
        self.generator = generator

    @classmethod
    def from_config(
        cls,
        config: PreTrainedConfig,
        image_mean: tuple[float, ...],
        image_std: tuple[float, ...],
        generator: torch.Generator | None = None,
    ) -> "MaskedImageModelingCollator":
        return cls(image_mean, image_std, MaskGenerator.from_config(config), config.mim_patch_size, generator)

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        pixel_values = self.pixel_values(examples)
        height, width = pixel_values.shape[-2:]
        if height % self.mask_patch_size or width % self.mask_patch_size:
            raise ValueError(
                f"images of {height}x{width} cannot be split into {self.mask_patch_size}x{self.mask_patch_size} "
                "mask patches"
            )
        grid_size = (height // self.mask_patch_size, width // self.mask_patch_size)
        bool_masked_pos = self.mask_generator(len(examples), grid_size, self.generator)
        return {"pixel_values": pixel_values, "bool_masked_pos": bool_masked_pos}
