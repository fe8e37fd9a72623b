"""Batched tensor augmentations and the image-classification collator.

`BatchAugmentation` is given to the training split's `DecodedImageDataset` as its batch transform, so it runs on
whole batches in the DataLoader workers and never touches evaluation data; the collator only stacks and normalises.

All augmentations act on a whole `(batch, 3, H, W)` float batch at once (one `grid_sample` for crop and flip, a
few element-wise ops for colour; RandAugment, TrivialAugment and random erasing from kornia), drawing from torch's
global generator: per image, from a seed of (seed, epoch, image index) that the recipe's `ResumableTrainer` passes
(`SeededBatches`), or per batch, from the generator it seeds per batch; so runs are reproducible for a given `seed`
and resume exactly, and with per-image draws do not depend on how the batch is split across processes.
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

    alternating_flip: instead of a random flip, flip each image in every other epoch (Jordan 2024, airbench,
    section 3.5: every image is seen both ways in any two consecutive epochs): image `i` is mirrored in epoch `e` when
    `i + e` is odd, so half of the images are mirrored in each epoch. It needs each image's dataset index and the
    epoch, which the training DataLoader passes (`hflip_prob` is then unused).

    per_image_draws: when the caller passes each image's seed (the training DataLoader does), draw each image's
    parameters from its own seed, so that an image is augmented the same in whichever batch, and on whichever
    process, it lands (then every image draws its own policy operations and `auto_augment_group_size` is unused);
    `False`: draw for the whole batch at once from torch's global generator (cheaper: fewer, larger kornia calls).
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
    alternating_flip: bool = False
    per_image_draws: bool = True

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


def _merge_kornia_parameters(items: list[Any]) -> Any:
    """One kornia parameter record for the concatenation of the images whose records (`ParamItem`s of the same
    operation, or their dicts) are `items`: every per-image tensor concatenated along the batch."""
    first = items[0]
    if hasattr(first, "name"):
        return type(first)(first.name, _merge_kornia_parameters([item.data for item in items]))
    if isinstance(first, list):
        return [_merge_kornia_parameters(list(parts)) for parts in zip(*items, strict=True)]
    merged = {key: torch.cat([item[key] for item in items]) for key in first if key != "forward_input_shape"}
    if "forward_input_shape" in first:
        merged["forward_input_shape"] = first["forward_input_shape"].clone()
        merged["forward_input_shape"][0] = len(items)
    return merged


@dataclass
class PolicyGroup:
    """Images (`indices` into the batch) that go through the same drawn policy operations (`parameters`)."""

    indices: torch.Tensor
    parameters: list[Any]


class BatchAugmentation:
    """Random resized crop, flip, colour jitter, grayscale, blur and solarisation on a float batch in `[0, 1]`,
    each sample with its own random parameters.

    A call draws every random parameter first (`draw`) and then transforms the whole batch at once (`apply`). With
    `sample_seeds` (one per image; the training DataLoader passes them, see `SeededBatches`) and
    `config.per_image_draws`, each image's parameters are drawn from a generator seeded by its own seed, so an
    image is augmented the same whichever batch it is in: splitting a batch across processes changes nothing.
    Otherwise the batch is drawn at once from torch's global generator. The policy operations are then applied
    to the images that drew the same operation together, one kornia call per operation and step.
    """

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

    # --- drawing ---------------------------------------------------------------------------------------------------

    def draw(self, batch_size: int, image_shape: tuple[int, ...]) -> dict[str, Any]:
        """The random parameters of a batch of `batch_size` images of shape `image_shape` (C, H, W), drawn from
        torch's global generator in the order the operations use them (operations of probability 0 draw nothing)."""
        cfg = self.config
        size = cfg.output_size or image_shape[-1]
        cropped_shape = torch.Size([image_shape[0], size, size])
        draws: dict[str, Any] = {"crop": self.draw_crop_and_flip(batch_size, image_shape[-1])}
        if self.policy is not None:
            draws["policy"] = [
                (group, self.policy.forward_parameters(torch.Size([group, *cropped_shape])))
                for group in _group_sizes(batch_size, cfg.auto_augment_group_size)
            ]
        if cfg.jitter_prob > 0:
            apply = (torch.rand(batch_size) < cfg.jitter_prob).float()
            strengths = (cfg.brightness, cfg.contrast, cfg.saturation)
            draws["jitter"] = torch.stack(
                [apply * _uniform(batch_size, 1 - strength, 1 + strength) + (1 - apply) for strength in strengths]
            )
        if cfg.grayscale_prob > 0:
            draws["grayscale"] = _chosen(batch_size, cfg.grayscale_prob)
        if cfg.blur_prob > 0:
            draws["blur"] = torch.stack(
                [_chosen(batch_size, cfg.blur_prob).float(), _uniform(batch_size, *cfg.blur_sigma)]
            )
        if cfg.solarize_prob > 0:
            draws["solarize"] = _chosen(batch_size, cfg.solarize_prob)
        if self.erasing is not None:
            draws["erasing"] = self.erasing.forward_parameters(torch.Size([batch_size, *cropped_shape]))
        return draws

    def draw_per_image(self, sample_seeds: list[int], image_shape: tuple[int, ...]) -> dict[str, Any]:
        """`draw` for each image from its own seed, merged into the parameters of the batch; torch's global
        generator is left as it was."""
        per_image = []
        with torch.random.fork_rng(devices=[]):
            for seed in sample_seeds:
                # The CPU generator only: `torch.manual_seed` also seeds every lazily initialised device
                # generator, which costs about half a millisecond per call on a machine without one.
                torch.default_generator.manual_seed(seed)
                per_image.append(self.draw(1, image_shape))
        draws: dict[str, Any] = {}
        for key, first in per_image[0].items():
            values = [draw[key] for draw in per_image]
            if key == "policy":
                draws[key] = [parameters for ((_, parameters),) in values]
            elif key == "erasing":
                draws[key] = _merge_kornia_parameters(values)
            elif isinstance(first, tuple):
                draws[key] = tuple(torch.cat(parts, dim=-1) for parts in zip(*values, strict=True))
            else:
                draws[key] = torch.cat(values, dim=-1)
        return draws

    def draw_crop_and_flip(self, batch_size: int, side: int) -> tuple[torch.Tensor, ...]:
        """Crop width and height as fractions of the image side, crop centre in `[-1, 1]` and flip sign (-1 or 1)."""
        cfg = self.config
        if cfg.crop_padding is not None:
            # A whole-image crop shifted by an integer number of pixels: exact samples, reflected at the border.
            width = height = torch.ones(batch_size)
            shift = torch.randint(-cfg.crop_padding, cfg.crop_padding + 1, (2, batch_size)).float()
            center_x, center_y = 2 * shift / side
        else:
            area = _uniform(batch_size, *cfg.crop_scale)
            log_ratio = _uniform(batch_size, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]))
            ratio = log_ratio.exp()
            # The affine grid spans [-1, 1], so the crop's width and height are scales.
            width = (area * ratio).sqrt().clamp(max=1.0)
            height = (area / ratio).sqrt().clamp(max=1.0)
            center_x = (torch.rand(batch_size) * 2 - 1) * (1 - width)
            center_y = (torch.rand(batch_size) * 2 - 1) * (1 - height)
        flip = torch.where(torch.rand(batch_size) < cfg.hflip_prob, -1.0, 1.0)
        return width, height, center_x, center_y, flip

    # --- applying --------------------------------------------------------------------------------------------------

    def crop_and_flip(self, images: torch.Tensor, parameters: tuple[torch.Tensor, ...]) -> torch.Tensor:
        width, height, center_x, center_y, flip = parameters
        batch_size = images.shape[0]
        theta = torch.zeros(batch_size, 2, 3)
        theta[:, 0, 0] = width * flip
        theta[:, 0, 2] = center_x
        theta[:, 1, 1] = height
        theta[:, 1, 2] = center_y
        size = self.config.output_size or images.shape[-1]
        grid = F.affine_grid(theta.to(images), [batch_size, images.shape[1], size, size], align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def colour_jitter(self, images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        brightness, contrast, saturation = factors.view(3, -1, 1, 1, 1).to(images)
        images = images * brightness
        mean_gray = _grayscale(images).mean(dim=(2, 3), keepdim=True)
        images = (images - mean_gray) * contrast + mean_gray
        gray = _grayscale(images)
        images = (images - gray) * saturation + gray
        return images.clamp(0.0, 1.0)

    def grayscale(self, images: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        chosen = chosen.view(-1, 1, 1, 1).to(images.device)
        return torch.where(chosen, _grayscale(images).expand_as(images), images)

    def blur(self, images: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian blur with a per-sample sigma: one grouped convolution per axis for the whole batch."""
        batch_size, channels, height, width = images.shape
        chosen, sigma = parameters[0].bool(), parameters[1]
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

    def solarize(self, images: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        chosen = chosen.view(-1, 1, 1, 1).to(images.device)
        return torch.where(chosen & (images >= 0.5), 1.0 - images, images)

    def policy_groups(self, parameters: list[Any], per_image: bool) -> list[list[PolicyGroup]]:
        """The policy's application as stages of groups. Drawn per batch: one stage, each group of
        `auto_augment_group_size` images through all its operations. Drawn per image: one stage per operation step,
        in which the images that drew the same operation form a group with their parameters concatenated."""
        if not per_image:
            stage, start = [], 0
            for size, group_parameters in parameters:
                stage.append(PolicyGroup(torch.arange(start, start + size), group_parameters))
                start += size
            return [stage]
        stages = []
        for step in range(len(parameters[0])):
            by_operation: dict[str, list[int]] = {}
            for index, image_parameters in enumerate(parameters):
                by_operation.setdefault(image_parameters[step].name, []).append(index)
            stages.append(
                [
                    PolicyGroup(
                        torch.tensor(indices),
                        [_merge_kornia_parameters([parameters[index][step] for index in indices])],
                    )
                    for indices in by_operation.values()
                ]
            )
        return stages

    def auto_augment(self, images: torch.Tensor, stages: list[list[PolicyGroup]]) -> torch.Tensor:
        """The RandAugment / TrivialAugment policy with drawn parameters, group by group."""
        for stage in stages:
            augmented = images.clone()
            for group in stage:
                augmented[group.indices] = self.policy(images[group.indices], params=group.parameters)
            images = augmented
        return images.clamp(0.0, 1.0)

    def apply(self, images: torch.Tensor, draws: dict[str, Any], per_image: bool = False) -> torch.Tensor:
        """`images` transformed with the drawn parameters (`draw`, or `draw_per_image` with `per_image`)."""
        images = self.crop_and_flip(images, draws["crop"])
        if "policy" in draws:
            images = self.auto_augment(images, self.policy_groups(draws["policy"], per_image))
        if "jitter" in draws:
            images = self.colour_jitter(images, draws["jitter"])
        if "grayscale" in draws:
            images = self.grayscale(images, draws["grayscale"])
        if "blur" in draws:
            images = self.blur(images, draws["blur"])
        if "solarize" in draws:
            images = self.solarize(images, draws["solarize"])
        if "erasing" in draws:
            images = self.erasing(images, params=draws["erasing"])
        return images

    def __call__(
        self,
        images: torch.Tensor,
        sample_seeds: list[int] | None = None,
        sample_indices: list[int] | None = None,
        epoch: int | None = None,
    ) -> torch.Tensor:
        """The augmented batch; `sample_seeds`, one per image, seed each image's draws (`config.per_image_draws`);
        `sample_indices` (the images' dataset indices) and `epoch` decide the alternating flips.

        Raises:
            ValueError: seeds or indices of another length than the batch, or alternating flips without indices
                and epoch.
        """
        for name, values in (("sample seeds", sample_seeds), ("sample indices", sample_indices)):
            if values is not None and len(values) != images.shape[0]:
                raise ValueError(f"got {len(values)} {name} for a batch of {images.shape[0]} images")
        per_image = sample_seeds is not None and self.config.per_image_draws
        if per_image:
            draws = self.draw_per_image(sample_seeds, tuple(images.shape[1:]))
        else:
            draws = self.draw(images.shape[0], tuple(images.shape[1:]))
        if self.config.alternating_flip:
            if sample_indices is None or epoch is None:
                raise ValueError(
                    "alternating_flip needs each image's dataset index and the epoch (the training DataLoader of "
                    "the recipe passes them)"
                )
            *crop, _ = draws["crop"]
            parity = (torch.tensor(sample_indices, dtype=torch.long) + int(epoch)) % 2
            draws["crop"] = (*crop, torch.where(parity == 1, -1.0, 1.0))
        return self.apply(images, draws, per_image)

    @property
    def per_batch_draws(self) -> str | None:
        """What this augmentation draws per batch in the training DataLoader (nothing with per-image draws)."""
        return None if self.config.per_image_draws else "the image augmentation (per_image_draws is off)"


def _group_sizes(batch_size: int, group_size: int) -> list[int]:
    return [min(group_size, batch_size - start) for start in range(0, batch_size, group_size)]


class ImageClassificationCollator:
    """Stacks decoded `[0, 1]` images and normalises them.

    Normalisation uses the image processor's mean and std, so a model trained with this collator sees the same
    inputs as `pipeline("image-classification")` with the saved processor. Returns `pixel_values` and `labels`.
    It draws nothing (`per_batch_draws`; collators that draw per batch name what they draw there).
    """

    per_batch_draws: str | None = None

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
