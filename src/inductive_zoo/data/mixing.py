"""Mixup and CutMix on collated batches, with soft targets that stay single-label.

Written here rather than taken from kornia: kornia's `RandomMixUpV2` draws the mixing weight uniformly instead of
from `Beta(alpha, alpha)` and neither it nor `RandomCutMixV2` switches between the two per batch as the small-data
recipes do (DeiT, Touvron et al. 2021; timm's `Mixup`); both would still need their label triples turned into
targets. The batch is mixed with a random permutation of itself drawn from torch's global generator, which the
recipe's `ResumableTrainer` seeds per batch, so resumed runs see the same mixes.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass
class MixupCutmixConfig:
    """mixup_alpha / cutmix_alpha: `Beta(alpha, alpha)` of the mixing weight (0 disables that method; Zhang et al.
    2018, Yun et al. 2019); prob: probability that a batch is mixed at all; switch_prob: probability of CutMix
    rather than mixup when both are enabled; label_smoothing: the targets' smoothing `(1 - e) y + e / C` (the
    recipe passes `TrainingArguments.label_smoothing_factor`)."""

    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        for name in ("mixup_alpha", "cutmix_alpha"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 disables it), got {getattr(self, name)}")
        for name in ("prob", "switch_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"mixup {name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")

    @property
    def enabled(self) -> bool:
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)


def smoothed_targets(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """`(batch, num_classes)` float targets: one-hot labels smoothed to `(1 - smoothing) y + smoothing / C`."""
    one_hot = F.one_hot(labels.long(), num_classes).float()
    return one_hot * (1.0 - smoothing) + smoothing / num_classes


def cutmix_box(height: int, width: int, lam: float) -> tuple[int, int, int, int]:
    """A box of area about `(1 - lam) H W` at a uniformly drawn centre, clipped to the image: `(y0, y1, x0, x1)`."""
    cut = (1.0 - lam) ** 0.5
    cut_h, cut_w = int(height * cut), int(width * cut)
    center_y, center_x = (int(torch.randint(0, size, ()).item()) for size in (height, width))
    y0, y1 = max(center_y - cut_h // 2, 0), min(center_y + cut_h // 2, height)
    x0, x1 = max(center_x - cut_w // 2, 0), min(center_x + cut_w // 2, width)
    return y0, y1, x0, x1


class MixupCutmixCollator:
    """Wraps a collator of `{"pixel_values", "labels"}` batches: the labels become `(batch, num_classes)` float
    targets (smoothed, summing to one), and with probability `prob` the batch is mixed with a permutation of itself
    by mixup (`lam x + (1 - lam) x_perm`) or CutMix (a box of `x_perm` pasted in, `lam` corrected to the kept
    area), the targets mixed with the same `lam`. One `lam` per batch.

    For training data only: evaluation keeps integer labels. The float targets never reach the model (the recipe's
    loss, `soft_target_cross_entropy`, takes them), so the model's `problem_type` stays single-label. The pairs and
    `lam` are drawn per batch (`per_batch_draws`): a batch split across processes is mixed differently.
    """

    per_batch_draws = "mixup/CutMix pairs and weights"

    def __init__(self, collator: Callable[[list[dict]], dict], num_classes: int, config: MixupCutmixConfig) -> None:
        if num_classes < 2:
            raise ValueError(f"mixup/cutmix needs at least 2 classes, got {num_classes}")
        self.collator = collator
        self.num_classes = num_classes
        self.config = config

    def mix(self, pixel_values: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixes one batch (a no-op with probability `1 - prob`); returns the images and targets."""
        cfg = self.config
        if not cfg.enabled or torch.rand(()).item() >= cfg.prob:
            return pixel_values, targets
        use_cutmix = cfg.cutmix_alpha > 0 and (cfg.mixup_alpha == 0 or torch.rand(()).item() < cfg.switch_prob)
        alpha = cfg.cutmix_alpha if use_cutmix else cfg.mixup_alpha
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        permutation = torch.randperm(pixel_values.shape[0])
        if use_cutmix:
            height, width = pixel_values.shape[-2:]
            y0, y1, x0, x1 = cutmix_box(height, width, lam)
            pixel_values = pixel_values.clone()
            pixel_values[..., y0:y1, x0:x1] = pixel_values[permutation][..., y0:y1, x0:x1]
            lam = 1.0 - (y1 - y0) * (x1 - x0) / (height * width)
        else:
            pixel_values = pixel_values * lam + pixel_values[permutation] * (1.0 - lam)
        return pixel_values, targets * lam + targets[permutation] * (1.0 - lam)

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.collator(examples)
        targets = smoothed_targets(batch["labels"], self.num_classes, self.config.label_smoothing)
        batch["pixel_values"], batch["labels"] = self.mix(batch["pixel_values"], targets)
        return batch
