"""Multi-view batches for joint-embedding self-supervision (SimCLR, DINO), built with batched tensor augmentations."""

from dataclasses import dataclass, field, replace

import torch

from .augmentation import AugmentationConfig, BatchAugmentation

# Colour and geometry of DINO's views (Caron et al. 2021, appendix), for images of any size.
_DINO_COLOUR = dict(brightness=0.4, contrast=0.4, saturation=0.2, jitter_prob=0.8, grayscale_prob=0.2)


@dataclass
class MultiViewConfig:
    """Which views to build from each image: global views at `global_size` and local views at `local_size`.

    `global_augmentations` has one `AugmentationConfig` per global view (DINO's are asymmetric: blur always on the
    first, rarely on the second, solarisation only on the second); `local_augmentation` serves every local view.
    Crop scales and output sizes are taken from `global_scale`/`local_scale` and the sizes, overriding the configs.
    """

    global_size: int = 32
    local_size: int = 16
    num_local_views: int = 6
    global_scale: tuple[float, float] = (0.35, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.35)
    global_augmentations: tuple[AugmentationConfig, ...] = field(
        default_factory=lambda: (
            AugmentationConfig(**_DINO_COLOUR, blur_prob=1.0),
            AugmentationConfig(**_DINO_COLOUR, blur_prob=0.1, solarize_prob=0.2),
        )
    )
    local_augmentation: AugmentationConfig = field(
        default_factory=lambda: AugmentationConfig(**_DINO_COLOUR, blur_prob=0.5)
    )

    def __post_init__(self) -> None:
        if not self.global_augmentations:
            raise ValueError("global_augmentations needs at least one view")
        if self.num_local_views < 0:
            raise ValueError(f"num_local_views must be >= 0, got {self.num_local_views}")
        for name in ("global_scale", "local_scale"):
            low, high = getattr(self, name)
            if not 0.0 < low <= high <= 1.0:
                raise ValueError(f"{name} must satisfy 0 < low <= high <= 1, got {(low, high)}")

    @classmethod
    def simclr(cls, image_size: int = 32) -> "MultiViewConfig":
        """SimCLR's two identically distributed views (Chen et al. 2020): crop, flip, strong jitter, grayscale, blur."""
        view = AugmentationConfig(brightness=0.8, contrast=0.8, saturation=0.8, jitter_prob=0.8, grayscale_prob=0.2,
                                  blur_prob=0.5)  # fmt: skip
        return cls(
            global_size=image_size, num_local_views=0, global_scale=(0.2, 1.0), global_augmentations=(view, view)
        )

    @classmethod
    def dino(cls, image_size: int = 32, num_local_views: int = 6, patch_size: int = 1) -> "MultiViewConfig":
        """DINO's multi-crop: two global views and `num_local_views` local views of about 0.43x the side (96 of
        224), rounded to a multiple of `patch_size` so that a patch model can embed them."""
        local_size = max(patch_size, round(0.43 * image_size / patch_size) * patch_size)
        return cls(global_size=image_size, local_size=local_size, num_local_views=num_local_views)


class MultiViewCollator:
    """Turns decoded `[0, 1]` images into `global_views` `(G, B, C, S, S)` and, if any, `local_views`
    `(L, B, C, s, s)`, normalised with the image processor's statistics; every view of every image gets its own
    random crop and colour parameters from torch's global generator (seeded by `Trainer`, per DataLoader worker).
    Labels, when the examples have them, come along as `labels` (for monitoring only). The views are drawn per
    batch (`per_batch_draws`)."""

    per_batch_draws = "the self-supervised views"

    def __init__(self, config: MultiViewConfig, image_mean: tuple[float, ...], image_std: tuple[float, ...]) -> None:
        self.config = config
        self.mean = torch.tensor(image_mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(image_std, dtype=torch.float32).view(1, -1, 1, 1)
        self.global_views = [
            BatchAugmentation(replace(view, crop_scale=config.global_scale, output_size=config.global_size))
            for view in config.global_augmentations
        ]
        local = replace(config.local_augmentation, crop_scale=config.local_scale, output_size=config.local_size)
        self.local_view = BatchAugmentation(local)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("cannot collate an empty batch")
        images = torch.stack([example["image"] for example in examples])
        batch = {"global_views": torch.stack([self.normalise(view(images)) for view in self.global_views])}
        if self.config.num_local_views:
            locals_ = [self.normalise(self.local_view(images)) for _ in range(self.config.num_local_views)]
            batch["local_views"] = torch.stack(locals_)
        if "label" in examples[0]:
            batch["labels"] = torch.tensor([example["label"] for example in examples], dtype=torch.long)
        return batch
