"""Masked image modeling, the self-supervised objective of the isotropic paper (Cazenavette & Lucey 2021, fig. 1:
BERT-style masked patch reconstruction in pixel space): the parts every model shares.

- `MaskGenerator`: which patches to hide, random (SimMIM, Xie et al. 2022) or block-wise (BEiT, Bao et al. 2022),
  exactly `round(mask_ratio * N)` of the `N` patches of every image; used by the models (when no mask is given) and
  by `data.MaskedImageModelingCollator` (masking in the data path).
- `prepare_bool_masked_pos`, `hide_masked_pixels`: the mask a forward uses (given or drawn), and the input with
  the masked patches' pixels set to 0, so that no convolution whose receptive field crosses patches sees them.
- `PixelShuffleDecoder`: SimMIM's linear prediction head, from the encoder's feature map to pixels.
- `masked_reconstruction_loss`: the loss on masked patches only, with optional per-patch normalised targets (MAE).
- `reconstructed_image`: the input with its masked patches replaced by the prediction, for figures.
- `MaskedImageModelingOutputWithMask`: transformers' `MaskedImageModelingOutput` plus the mask used.
- `MaskedImageModelingMixin`: the steps every masked-image-modeling model takes around its backbone.
- `check_masked_image_modeling_config`: the checks of the `mim_*` config fields.

The models are `IsotropicForMaskedImageModeling` (and its per-variant subclasses) and
`CADAResNetForMaskedImageModeling`; each config carries the `mim_*` fields and a `mim_patch_size` property.
"""

import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedConfig
from transformers.modeling_outputs import MaskedImageModelingOutput
from transformers.utils import ModelOutput

from ..layers.pixel_values import check_pixel_values

MASKINGS = ("random", "block")
RECONSTRUCTION_LOSSES = ("mse", "l1")


def check_mask_settings(mask_ratio: Any, masking: Any, prefix: str = "") -> None:
    """`mask_ratio` is a number in (0, 1) and `masking` one of `MASKINGS`; errors name `{prefix}mask_ratio` etc."""
    if isinstance(mask_ratio, bool) or not isinstance(mask_ratio, (int, float)) or not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"{prefix}mask_ratio must be a number in (0, 1), got {mask_ratio!r}")
    if masking not in MASKINGS:
        raise ValueError(f"{prefix}masking must be one of {MASKINGS}, got {masking!r}")


def check_masked_image_modeling_config(config: PreTrainedConfig) -> None:
    """Checks the masked-image-modeling fields of a config (see `IsotropicConfig` for their meaning).

    Raises:
        ValueError: naming the field: `mim_mask_ratio` outside (0, 1), `mim_masking` not in `MASKINGS`,
            `mim_loss` not in `RECONSTRUCTION_LOSSES` (the fields' types are the typed config's to check).
    """
    check_mask_settings(config.mim_mask_ratio, config.mim_masking, prefix="mim_")
    if config.mim_loss not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"mim_loss must be one of {RECONSTRUCTION_LOSSES}, got {config.mim_loss!r}")


class MaskGenerator:
    """Draws the patches that masked image modeling hides: exactly `round(mask_ratio * N)` of the `N` patches of each
    image (Python's `round`), as a `(batch, N)` bool tensor, `True` = masked, row-major over the patch grid.

    - `"random"`: a uniformly random subset per image (SimMIM, Xie et al. 2022, sec. 3.1; MAE, He et al. 2022).
    - `"block"`: BEiT's blockwise masking (Bao et al. 2022, Algorithm 1): rectangles of at least `min_block_patches`
      patches (area drawn uniformly up to the remaining budget), aspect ratio log-uniform in
      `[block_aspect_ratio, 1 / block_aspect_ratio]`, placed uniformly; a rectangle is kept if it adds between 1 and
      the remaining number of patches, else redrawn (10 tries). Our additions: a rectangle may span the whole grid
      side (BEiT's must be strictly smaller), and, BEiT's mask falling short of the budget when no rectangle fits,
      the mask then grows one patch at a time into random unmasked 4-neighbours of the masked region, so the count
      is exact and the blocks stay contiguous.

    Randomness comes from `generator` (a `torch.Generator`) or, when it is `None`, from torch's global generator,
    which `Trainer` seeds and DataLoader workers seed per worker. Block masking draws one seed from it per batch and
    runs Python's `random.Random` with that seed (the per-rectangle loop is Python, and cheap there).
    """

    def __init__(
        self,
        mask_ratio: float = 0.6,
        masking: str = "random",
        min_block_patches: int = 4,
        block_aspect_ratio: float = 0.3,
    ) -> None:
        check_mask_settings(mask_ratio, masking)
        if isinstance(min_block_patches, bool) or not isinstance(min_block_patches, int) or min_block_patches < 1:
            raise ValueError(f"min_block_patches must be a positive integer, got {min_block_patches!r}")
        if not 0.0 < block_aspect_ratio <= 1.0:
            raise ValueError(f"block_aspect_ratio must be in (0, 1], got {block_aspect_ratio!r}")
        self.mask_ratio = mask_ratio
        self.masking = masking
        self.min_block_patches = min_block_patches
        self.log_aspect_ratio = (math.log(block_aspect_ratio), -math.log(block_aspect_ratio))

    @classmethod
    def from_config(cls, config: PreTrainedConfig) -> "MaskGenerator":
        """The generator a model's config asks for: `mim_mask_ratio` and `mim_masking`, BEiT's block shapes."""
        return cls(config.mim_mask_ratio, config.mim_masking)

    def num_masked_patches(self, num_patches: int) -> int:
        count = round(self.mask_ratio * num_patches)
        if count < 1:
            raise ValueError(
                f"a mask ratio of {self.mask_ratio} masks no patch of a grid of {num_patches} patches; "
                "raise mim_mask_ratio or use a finer patch grid"
            )
        return count

    def __call__(
        self, batch_size: int, grid_size: tuple[int, int], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A `(batch_size, grid_size[0] * grid_size[1])` bool mask on the CPU, the same count in every row."""
        grid_height, grid_width = grid_size
        num_patches = grid_height * grid_width
        count = self.num_masked_patches(num_patches)
        if self.masking == "random":
            order = torch.rand(batch_size, num_patches, generator=generator).argsort(dim=1)
            mask = torch.zeros(batch_size, num_patches, dtype=torch.bool)
            return mask.scatter_(1, order[:, :count], True)
        rng = random.Random(int(torch.randint(0, 2**62, (1,), generator=generator)))
        masks = [self.block_mask(grid_height, grid_width, count, rng) for _ in range(batch_size)]
        return torch.from_numpy(np.stack(masks).reshape(batch_size, num_patches))

    def block_mask(self, grid_height: int, grid_width: int, count: int, rng: random.Random) -> np.ndarray:
        """One `(grid_height, grid_width)` block mask with exactly `count` masked patches."""
        mask = np.zeros((grid_height, grid_width), dtype=bool)
        masked = 0
        while masked < count:
            added = self.add_block(mask, count - masked, rng)
            if not added:
                break
            masked += added
        for _ in range(count - masked):
            neighbours = np.zeros_like(mask)
            neighbours[1:] |= mask[:-1]
            neighbours[:-1] |= mask[1:]
            neighbours[:, 1:] |= mask[:, :-1]
            neighbours[:, :-1] |= mask[:, 1:]
            candidates = np.flatnonzero(neighbours & ~mask)
            if not len(candidates):  # an empty mask: no region to grow from
                candidates = np.flatnonzero(~mask)
            mask.flat[candidates[rng.randrange(len(candidates))]] = True
        return mask

    def add_block(self, mask: np.ndarray, budget: int, rng: random.Random) -> int:
        """Masks one random rectangle adding 1 to `budget` new patches (BEiT's `_mask`); returns how many it added."""
        grid_height, grid_width = mask.shape
        for _ in range(10):
            area = rng.uniform(self.min_block_patches, max(self.min_block_patches, budget))
            aspect_ratio = math.exp(rng.uniform(*self.log_aspect_ratio))
            height = round(math.sqrt(area * aspect_ratio))
            width = round(math.sqrt(area / aspect_ratio))
            if not (1 <= height <= grid_height and 1 <= width <= grid_width):
                continue
            top = rng.randint(0, grid_height - height)
            left = rng.randint(0, grid_width - width)
            window = mask[top : top + height, left : left + width]
            added = height * width - int(window.sum())
            if 0 < added <= budget:
                window[...] = True
                return added
        return 0


def prepare_bool_masked_pos(
    bool_masked_pos: torch.Tensor | None, pixel_values: torch.Tensor, config: PreTrainedConfig
) -> torch.Tensor:
    """The `(batch, N)` bool mask over the `config.mim_patch_size` grid of `pixel_values`: `bool_masked_pos`
    (shape `(batch, N)` or `(batch, grid_height, grid_width)`) checked, or, when it is `None`, a fresh one from
    `MaskGenerator.from_config(config)` on torch's global generator.

    Raises:
        ValueError: the image size is not a multiple of `config.mim_patch_size`, or the mask has the wrong shape.
    """
    patch_size = config.mim_patch_size
    batch_size, _, height, width = pixel_values.shape
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"masked image modeling needs an image size divisible by its mask patch size {patch_size} "
            f"(config.mim_patch_size), got {height}x{width}"
        )
    grid_size = (height // patch_size, width // patch_size)
    if bool_masked_pos is None:
        return MaskGenerator.from_config(config)(batch_size, grid_size).to(pixel_values.device)
    num_patches = grid_size[0] * grid_size[1]
    if bool_masked_pos.shape[0] != batch_size or bool_masked_pos[0].numel() != num_patches:
        raise ValueError(
            f"bool_masked_pos must have shape (batch, {num_patches}) for {batch_size} images of {height}x{width} "
            f"with {patch_size}x{patch_size} patches, got {tuple(bool_masked_pos.shape)}"
        )
    return bool_masked_pos.reshape(batch_size, num_patches).to(device=pixel_values.device, dtype=torch.bool)


def hide_masked_pixels(pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor, patch_size: int) -> torch.Tensor:
    """`pixel_values` with every pixel of a masked patch set to 0 (the mean, for inputs normalised with the
    dataset's statistics), so that no convolution whose receptive field crosses patch borders sees it."""
    batch_size, _, height, width = pixel_values.shape
    mask = bool_masked_pos.reshape(batch_size, 1, height // patch_size, width // patch_size)
    mask = mask.repeat_interleave(patch_size, dim=2).repeat_interleave(patch_size, dim=3)
    return pixel_values.masked_fill(mask, 0.0)


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """`(B, C, H, W)` -> `(B, N, patch_size^2 * C)`, patches row-major over the grid, pixels row-major then channels."""
    batch_size, channels, height, width = images.shape
    grid_height, grid_width = height // patch_size, width // patch_size
    patches = images.reshape(batch_size, channels, grid_height, patch_size, grid_width, patch_size)
    return patches.permute(0, 2, 4, 3, 5, 1).reshape(batch_size, grid_height * grid_width, -1)


def unpatchify(patches: torch.Tensor, patch_size: int, grid_size: tuple[int, int]) -> torch.Tensor:
    """The inverse of `patchify`: `(B, N, patch_size^2 * C)` -> `(B, C, H, W)` over a `grid_size` patch grid."""
    batch_size, _, values = patches.shape
    grid_height, grid_width = grid_size
    channels = values // (patch_size * patch_size)
    images = patches.reshape(batch_size, grid_height, grid_width, patch_size, patch_size, channels)
    return images.permute(0, 5, 1, 3, 2, 4).reshape(batch_size, channels, grid_height * patch_size, -1)


def patch_statistics(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-patch mean and `sqrt(var + 1e-6)` of `(B, N, P)` patches: MAE's `norm_pix_loss` normalisation."""
    return patches.mean(dim=-1, keepdim=True), (patches.var(dim=-1, keepdim=True) + 1.0e-6).sqrt()


def reconstructed_image(
    reconstruction: torch.Tensor,
    pixel_values: torch.Tensor,
    bool_masked_pos: torch.Tensor,
    patch_size: int,
    norm_target: bool = False,
) -> torch.Tensor:
    """What a reader of a masked-image-modeling figure sees: `pixel_values` with every masked patch replaced by its
    prediction, in `pixel_values`' units. With `norm_target` the prediction is per-patch normalised and is mapped
    back with the true patch's mean and spread (as MAE's visualisations do). All tensors as in
    `masked_reconstruction_loss`; returns `(B, C, H, W)`."""
    predicted = patchify(reconstruction.float(), patch_size)
    original = patchify(pixel_values.float(), patch_size)
    if norm_target:
        mean, spread = patch_statistics(original)
        predicted = predicted * spread + mean
    mask = bool_masked_pos.reshape(*original.shape[:2], 1)
    grid_size = (pixel_values.shape[-2] // patch_size, pixel_values.shape[-1] // patch_size)
    return unpatchify(torch.where(mask, predicted, original), patch_size, grid_size)


def masked_reconstruction_loss(
    reconstruction: torch.Tensor,
    target: torch.Tensor,
    bool_masked_pos: torch.Tensor,
    patch_size: int,
    loss: str = "mse",
    norm_target: bool = False,
) -> torch.Tensor:
    """`sum_{i in M} e_i / |M|`: the mean over the masked patches `M` of the batch of the per-patch error
    `e_i = mean_j (x_hat_ij - t_ij)^2` (`loss="mse"`, MAE, He et al. 2022, sec. 3) or `mean_j |x_hat_ij - t_ij|`
    (`"l1"`, SimMIM, Xie et al. 2022, eq. 1), `j` over the `patch_size^2 * C` values of the patch. Unmasked patches
    take no part. With `norm_target`, each target patch is first normalised by its own mean and variance,
    `t_i = (x_i - mean(x_i)) / sqrt(var(x_i) + 1e-6)` (MAE's `norm_pix_loss`), and `reconstruction` predicts that.

    `reconstruction` and `target` are `(B, C, H, W)`, `bool_masked_pos` `(B, N)` over the `patch_size` grid. Every
    image masking the same number of patches (`MaskGenerator`), this is also the mean of the per-image losses. A
    batch without any masked patch gives 0. Computed in float32.
    """
    predicted = patchify(reconstruction.float(), patch_size)
    target = patchify(target.float(), patch_size)
    if norm_target:
        mean, spread = patch_statistics(target)
        target = (target - mean) / spread
    difference = predicted - target
    error = (difference.square() if loss == "mse" else difference.abs()).mean(dim=-1)
    mask = bool_masked_pos.reshape(error.shape).to(error.dtype)
    return (error * mask).sum() / mask.sum().clamp(min=1.0)


class PixelShuffleDecoder(nn.Module):
    """SimMIM's prediction head (Xie et al. 2022, sec. 3.3, "a linear layer"; transformers' `ViTForMaskedImageModeling`
    decoder): a 1x1 convolution (`weight` `(patch_size^2 * num_channels, in_channels)`, `bias`) from the encoder's
    `(B, D, h, w)` feature map to `patch_size^2 * num_channels` values per position, rearranged by PixelShuffle into
    `(B, num_channels, h * patch_size, w * patch_size)` pixels, so each position predicts the pixels of its own
    patch. A linear head keeps the reconstruction the encoder's work, which the isotropic paper's comparison of encoders
    needs (a deep decoder would absorb their differences). The weights are the module's own parameters, so that the
    models' `_init_weights` initialises them here (normal, std `initializer_range`; zero bias)."""

    def __init__(self, in_channels: int, patch_size: int, num_channels: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.weight = nn.Parameter(torch.empty(patch_size**2 * num_channels, in_channels))
        self.bias = nn.Parameter(torch.zeros(patch_size**2 * num_channels))

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        projected = F.conv2d(feature_map, self.weight[:, :, None, None], self.bias)
        return F.pixel_shuffle(projected, self.patch_size)


@dataclass
class MaskedImageModelingOutputWithMask(MaskedImageModelingOutput):
    """transformers' `MaskedImageModelingOutput` (`loss`, `reconstruction` `(B, C, H, W)`, `hidden_states`,
    `attentions`) plus `bool_masked_pos`, the `(B, N)` mask the loss used (drawn by the model when none was given).
    With `mim_norm_target`, `reconstruction` is in per-patch normalised units (see `masked_reconstruction_loss`)."""

    bool_masked_pos: torch.Tensor | None = None


class MaskedImageModelingMixin:
    """What every `...ForMaskedImageModeling` does around its backbone: `mask_inputs` before it (check the
    pixels, take or draw the mask, hide the masked pixels) and `reconstruct` after it (decode the feature map,
    compute the loss, build the output). The model has `config` (with the `mim_*` fields and `mim_patch_size`) and
    a `decoder`."""

    config: PreTrainedConfig
    decoder: PixelShuffleDecoder

    def mask_inputs(
        self, pixel_values: torch.Tensor | None, bool_masked_pos: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone's input (`pixel_values` with the masked patches set to 0) and the `(batch, N)` mask."""
        if pixel_values is None:
            raise ValueError("pixel_values is required")
        check_pixel_values(pixel_values, self.config.num_channels)
        bool_masked_pos = prepare_bool_masked_pos(bool_masked_pos, pixel_values, self.config)
        return hide_masked_pixels(pixel_values, bool_masked_pos, self.config.mim_patch_size), bool_masked_pos

    def reconstruct(
        self,
        feature_map: torch.Tensor,
        pixel_values: torch.Tensor,
        bool_masked_pos: torch.Tensor,
        backbone_outputs: ModelOutput,
    ) -> MaskedImageModelingOutputWithMask:
        """Decodes the `(batch, D, grid_height, grid_width)` feature map and scores it against `pixel_values`."""
        reconstruction = self.decoder(feature_map)
        loss = masked_reconstruction_loss(
            reconstruction,
            pixel_values,
            bool_masked_pos,
            self.config.mim_patch_size,
            loss=self.config.mim_loss,
            norm_target=self.config.mim_norm_target,
        )
        return MaskedImageModelingOutputWithMask(
            loss=loss,
            reconstruction=reconstruction,
            hidden_states=backbone_outputs.hidden_states,
            attentions=backbone_outputs.get("attentions"),
            bool_masked_pos=bool_masked_pos,
        )
