"""Multi-view batches for SimCLR and DINO: the views are what the config says, seeded, and the new augmentations act."""

import pytest
import torch

from inductive_zoo.data import IMAGENET_MEAN, IMAGENET_STD, AugmentationConfig, BatchAugmentation
from inductive_zoo.data.views import MultiViewCollator, MultiViewConfig


def examples(count: int = 8) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    return [{"image": torch.rand(3, 32, 32, generator=generator), "label": index % 10} for index in range(count)]


def test_dino_views_have_the_configured_number_and_sizes():
    config = MultiViewConfig.dino(32, num_local_views=4, patch_size=4)
    assert config.local_size == 12
    batch = MultiViewCollator(config, IMAGENET_MEAN, IMAGENET_STD)(examples())
    assert batch["global_views"].shape == (2, 8, 3, 32, 32)
    assert batch["local_views"].shape == (4, 8, 3, 12, 12)
    assert batch["labels"].tolist() == [index % 10 for index in range(8)]
    # Every view of every image differs (own crop and colour per sample and view).
    assert not torch.allclose(batch["global_views"][0, 0], batch["global_views"][1, 0])
    assert not torch.allclose(batch["local_views"][0, 0], batch["local_views"][1, 0])


def test_simclr_views_and_seeding():
    collator = MultiViewCollator(MultiViewConfig.simclr(32), IMAGENET_MEAN, IMAGENET_STD)
    torch.manual_seed(3)
    first = collator(examples())
    torch.manual_seed(3)
    second = collator(examples())
    assert "local_views" not in first and first["global_views"].shape == (2, 8, 3, 32, 32)
    torch.testing.assert_close(first["global_views"], second["global_views"])
    with pytest.raises(ValueError, match="empty batch"):
        collator([])
    with pytest.raises(ValueError, match="global_scale must satisfy"):
        MultiViewConfig(global_scale=(0.0, 1.0))


def identity(**overrides) -> AugmentationConfig:
    return AugmentationConfig(
        crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_prob=0.0, jitter_prob=0.0, **overrides
    )


def test_grayscale_blur_and_solarize_act_as_documented():
    images = torch.rand(4, 3, 16, 16)
    gray = BatchAugmentation(identity(grayscale_prob=1.0))(images)
    torch.testing.assert_close(gray[:, 0], gray[:, 1], atol=1e-5, rtol=0)
    blurred = BatchAugmentation(identity(blur_prob=1.0, blur_sigma=(1.5, 1.5)))(images)
    assert blurred.var() < 0.5 * images.var()
    torch.testing.assert_close(blurred.mean(dim=(2, 3)), images.mean(dim=(2, 3)), atol=0.03, rtol=0)
    solarized = BatchAugmentation(identity(solarize_prob=1.0))(images)
    expected = torch.where(images >= 0.5, 1 - images, images)
    torch.testing.assert_close(solarized, expected, atol=1e-5, rtol=0)
    smaller = BatchAugmentation(identity(output_size=8))(images)
    assert smaller.shape == (4, 3, 8, 8)
