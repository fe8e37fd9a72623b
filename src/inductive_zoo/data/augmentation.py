"""Batched tensor augmentations and the image-classification collator.

`BatchAugmentation` is given to the training split's `DecodedImageDataset` as its batch transform, so it runs on
whole batches in the DataLoader workers and never touches evaluation data; the collator only stacks and normalises.

All augmentations act on a whole `(batch, 3, H, W)` float batch at once (one `grid_sample` for crop and flip, a
few element-wise ops for colour; RandAugment, TrivialAugment and random erasing from kornia), drawing from torch's
global generator, which the recipe's `ResumableTrainer` seeds per batch, so runs are reproducible for a given `seed`
and resume exactly.
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

GRAY_WEIGHTS = (0.299, 0.587, 0.114)
AUTO_AUGMENT_POLICIES = ("randaugment", "trivialaugment")
ERASING_FILL = 0.5


@dataclass
class AugmentationConfig:
    """Settings of `BatchAugmentation`; the defaults are a light recipe for small images.

    crop_scale / crop_ratio: area fraction and aspect-ratio range of the random resized crop (Szegedy et al. 2015);
    output_size: side of the crop's output (`None`: the input's); hflip_prob: probability of a horizontal flip;
    brightness / contrast / saturation: maximal relative change of the colour jitter, applied to a sample with
    probability jitter_prob; grayscale_prob, blur_prob (Gaussian blur, sigma drawn from blur_sigma, in pixels of the
    output) and solarize_prob (invert pixels above 0.5): the self-supervised views of SimCLR (Chen et al. 2020) and
    DINO (Caron et al. 2021). Operations with probability 0 draw no random numbers.

    The small-data recipe adds: crop_padding (when set, the crop is a translation by up to this many pixels with
    reflection padding, the classic CIFAR "pad 4 and crop", instead of the random resized crop); auto_augment
    (`"randaugment"`: Cubuk et al. 2020 with `randaugment_num_ops` operations of magnitude `randaugment_magnitude`
    out of 30; `"trivialaugment"`: Mueller & Hutter 2021; both kornia's); random_erasing_prob (Zhong et al. 2020,
    kornia's, the erased box filled with mid-grey 0.5, near the CIFAR-10 mean, so it reads as "no information").
    kornia draws one policy for a whole batch, so the batch is split into groups of `auto_augment_group_size`
    samples that each draw their own operations (our choice: per-sample variety at the cost of a few calls per batch).
    """

    crop_scale: tuple[float, float] = (0.35, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    output_size: int | None = None
    hflip_prob: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    jitter_prob: float = 0.8
    grayscale_prob: float = 0.0
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_prob: float = 0.0
    crop_padding: int | None = None
    auto_augment: str | None = None
    randaugment_num_ops: int = 2
    randaugment_magnitude: int = 9
    auto_augment_group_size: int = 16
    random_erasing_prob: float = 0.0

    def __post_init__(self) -> None:
        if self.auto_augment is not None and self.auto_augment not in AUTO_AUGMENT_POLICIES:
            raise ValueError(f"auto_augment must be one of {AUTO_AUGMENT_POLICIES} or None, got {self.auto_augment!r}")
        if self.crop_padding is not None and self.crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {self.crop_padding}")
        if not 0 <= self.randaugment_magnitude <= 30:
            raise ValueError(f"randaugment_magnitude must be in [0, 30], got {self.randaugment_magnitude}")
        for name in ("randaugment_num_ops", "auto_augment_group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        probabilities = ("hflip_prob", "jitter_prob", "grayscale_prob", "blur_prob", "solarize_prob")
        for name in (*probabilities, "random_erasing_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def _uniform(batch_size: int, low: float, high: float) -> torch.Tensor:
    return torch.empty(batch_size).uniform_(low, high)


def _grayscale(images: torch.Tensor) -> torch.Tensor:
    weights = images.new_tensor(GRAY_WEIGHTS).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _chosen(batch_size: int, probability: float) -> torch.Tensor:
    return torch.rand(batch_size) < probability


class BatchAugmentation:
    """Random resized crop, flip, colour jitter, grayscale, blur and solarisation on a float batch in `[0, 1]`,
    each sample with its own random parameters."""

    def __init__(self, config: AugmentationConfig | None = None) -> None:
        self.config = config or AugmentationConfig()
        self.policy = self._auto_augment_policy()
        self.erasing = None
        if self.config.random_erasing_prob > 0:
            from kornia.augmentation import RandomErasing

            self.erasing = RandomErasing(p=self.config.random_erasing_prob, value=ERASING_FILL)

    def _auto_augment_policy(self) -> Any:
        cfg = self.config
        if cfg.auto_augment is None:
            return None
        # Imported here: kornia is only needed by recipes that use these policies.
        from kornia.augmentation.auto import RandAugment, TrivialAugment

        if cfg.auto_augment == "randaugment":
            return RandAugment(n=cfg.randaugment_num_ops, m=cfg.randaugment_magnitude)
        return TrivialAugment()

    def crop_and_flip(self, images: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        batch_size = images.shape[0]
        if cfg.crop_padding is not None:
            # A whole-image crop shifted by an integer number of pixels: exact samples, reflected at the border.
            side = images.shape[-1]
            width = height = torch.ones(batch_size)
            shift = torch.randint(-cfg.crop_padding, cfg.crop_padding + 1, (2, batch_size)).float()
            center_x, center_y = 2 * shift / side
        else:
            area = _uniform(batch_size, *cfg.crop_scale)
            log_ratio = _uniform(batch_size, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]))
            ratio = log_ratio.exp()
            # Crop width and height as fractions of the image side; the affine grid spans [-1, 1], so they are scales.
            width = (area * ratio).sqrt().clamp(max=1.0)
            height = (area / ratio).sqrt().clamp(max=1.0)
            center_x = (torch.rand(batch_size) * 2 - 1) * (1 - width)
            center_y = (torch.rand(batch_size) * 2 - 1) * (1 - height)
        flip = torch.where(torch.rand(batch_size) < cfg.hflip_prob, -1.0, 1.0)
        theta = torch.zeros(batch_size, 2, 3)
        theta[:, 0, 0] = width * flip
        theta[:, 0, 2] = center_x
        theta[:, 1, 1] = height
        theta[:, 1, 2] = center_y
        size = cfg.output_size or images.shape[-1]
        grid = F.affine_grid(theta.to(images), [batch_size, images.shape[1], size, size], align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def colour_jitter(self, images: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        batch_size = images.shape[0]
        apply = (torch.rand(batch_size) < cfg.jitter_prob).float()

        def factor(strength: float) -> torch.Tensor:
            values = _uniform(batch_size, 1 - strength, 1 + strength)
            return (apply * values + (1 - apply)).view(-1, 1, 1, 1).to(images)

        images = images * factor(cfg.brightness)
        mean_gray = _grayscale(images).mean(dim=(2, 3), keepdim=True)
        images = (images - mean_gray) * factor(cfg.contrast) + mean_gray
        gray = _grayscale(images)
        images = (images - gray) * factor(cfg.saturation) + gray
        return images.clamp(0.0, 1.0)

    def grayscale(self, images: torch.Tensor) -> torch.Tensor:
        chosen = _chosen(images.shape[0], self.config.grayscale_prob).view(-1, 1, 1, 1).to(images.device)
        return torch.where(chosen, _grayscale(images).expand_as(images), images)

    def blur(self, images: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian blur with a per-sample sigma: one grouped convolution per axis for the whole batch."""
        batch_size, channels, height, width = images.shape
        chosen = _chosen(batch_size, self.config.blur_prob)
        sigma = _uniform(batch_size, *self.config.blur_sigma)
        radius = max(1, math.ceil(3 * self.config.blur_sigma[1]))
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernels = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
        kernels = kernels / kernels.sum(dim=1, keepdim=True)
        identity = (offsets == 0).float().expand_as(kernels)
        kernels = torch.where(chosen.view(-1, 1), kernels, identity).to(images)
        weight = kernels.repeat_interleave(channels, dim=0)
        flat = images.reshape(1, batch_size * channels, height, width)
        flat = F.conv2d(
            F.pad(flat, (radius, radius, 0, 0), mode="reflect"),
            weight.view(-1, 1, 1, 2 * radius + 1),
            groups=batch_size * channels,
        )
        flat = F.conv2d(
            F.pad(flat, (0, 0, radius, radius), mode="reflect"),
            weight.view(-1, 1, 2 * radius + 1, 1),
            groups=batch_size * channels,
        )
        return flat.view(batch_size, channels, height, width)

    def solarize(self, images: torch.Tensor) -> torch.Tensor:
        chosen = _chosen(images.shape[0], self.config.solarize_prob).view(-1, 1, 1, 1).to(images.device)
        return torch.where(chosen & (images >= 0.5), 1.0 - images, images)

    def auto_augment(self, images: torch.Tensor) -> torch.Tensor:
        """The RandAugment / TrivialAugment policy, drawn anew for each group of `auto_augment_group_size` samples."""
        groups = images.split(self.config.auto_augment_group_size)
        return torch.cat([self.policy(group) for group in groups]).clamp(0.0, 1.0)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = self.crop_and_flip(images)
        if self.policy is not None:
            images = self.auto_augment(images)
        if self.config.jitter_prob > 0:
            images = self.colour_jitter(images)
        cfg = self.config
        if cfg.grayscale_prob > 0:
            images = self.grayscale(images)
        if cfg.blur_prob > 0:
            images = self.blur(images)
        if cfg.solarize_prob > 0:
            images = self.solarize(images)
        if self.erasing is not None:
            images = self.erasing(images)
        return images


class ImageClassificationCollator:
    """Stacks decoded `[0, 1]` images and normalises them.

    Normalisation uses the image processor's mean and std, so a model trained with this collator sees the same
    inputs as `pipeline("image-classification")` with the saved processor. Returns `pixel_values` and `labels`.
    """

    def __init__(self, image_mean: tuple[float, ...], image_std: tuple[float, ...]) -> None:
        self.mean = torch.tensor(image_mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(image_std, dtype=torch.float32).view(1, -1, 1, 1)

    def pixel_values(self, examples: list[dict]) -> torch.Tensor:
        """The examples' images stacked and normalised."""
        if not examples:
            raise ValueError("cannot collate an empty batch")
        images = torch.stack([example["image"] for example in examples])
        return (images - self.mean) / self.std

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        labels = torch.tensor([example["label"] for example in examples], dtype=torch.long)
        return {"pixel_values": self.pixel_values(examples), "labels": labels}
