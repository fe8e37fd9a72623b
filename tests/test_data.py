"""Data loading, subsets, decoding errors, batched augmentation and the collator/processor agreement."""

import io

import numpy as np
import PIL.Image
import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Image

from inductive_zoo.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentationConfig,
    BatchAugmentation,
    CorruptImageError,
    DecodedImageDataset,
    ImageClassificationCollator,
    class_balanced_subset,
    digits_dataset,
    image_processor_for,
    load_image_dataset,
)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def image_dataset(values: list, labels: list[int]) -> Dataset:
    features = Features({"img": Image(), "label": ClassLabel(names=["a", "b", "c"])})
    return Dataset.from_dict({"img": values, "label": labels}, features=features)


def test_digits_default_looks_like_cifar10():
    splits = digits_dataset()
    assert set(splits) == {"train", "test"}
    assert len(splits["train"]) + len(splits["test"]) == 1797
    assert splits["train"].column_names == ["img", "label"]
    assert splits["train"].features["label"].names == [str(d) for d in range(10)]
    image = splits["train"][0]["img"]
    assert image.mode == "RGB" and image.size == (32, 32)
    # Every class is in both splits, in proportion.
    test_counts = np.bincount(splits["test"]["label"], minlength=10)
    assert test_counts.min() >= 30


def test_load_image_dataset_finds_columns_and_eval_split(cifar10_path):
    data = load_image_dataset(str(cifar10_path))
    assert (data.image_column, data.label_column, data.eval_split) == ("img", "label", "test")
    assert data.label_names[:3] == ["airplane", "automobile", "bird"]
    assert len(data.splits["train"]) == 50000


def test_load_image_folder_holds_out_a_balanced_validation_split(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / "train" / name).mkdir(parents=True)
        for index in range(10):
            pixels = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
            PIL.Image.fromarray(pixels).save(tmp_path / "train" / name / f"{index}.png")
    data = load_image_dataset(str(tmp_path), validation_fraction=0.2)
    assert data.eval_split == "validation"
    assert data.label_names == ["cat", "dog"]
    assert sorted(data.splits["validation"][data.label_column]) == [0, 0, 1, 1]
    assert len(data.splits["train"]) == 16


def test_missing_columns_are_named():
    dataset = Dataset.from_dict({"x": [1, 2]})
    from inductive_zoo.data.datasets import find_column

    with pytest.raises(ValueError, match="no image column of type Image"):
        find_column(dataset, Image, None, "image")
    with pytest.raises(ValueError, match="label column 'y' not found"):
        find_column(dataset, ClassLabel, "y", "label")


def test_class_balanced_subset_is_balanced_and_seeded():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    dataset = Dataset.from_dict({"label": labels, "row": list(range(100))})
    subset = class_balanced_subset(dataset, 0.1, "label", seed=3)
    assert np.bincount(subset["label"]).tolist() == [5, 3, 2]
    assert subset["row"] == class_balanced_subset(dataset, 0.1, "label", seed=3)["row"]
    assert subset["row"] != class_balanced_subset(dataset, 0.1, "label", seed=4)["row"]
    assert len(class_balanced_subset(dataset, 1.0, "label")) == 100
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\]"):
        class_balanced_subset(dataset, 0.0, "label")


def test_corrupt_and_truncated_images_raise_naming_index_and_split(cifar10_path):
    good = png_bytes(np.zeros((8, 8, 3), dtype=np.uint8))
    parquet = Dataset.from_parquet(str(cifar10_path / "plain_text" / "test-00000-of-00001.parquet"))
    real_jpeg = parquet.cast_column("img", Image(decode=False))[0]["img"]
    truncated = real_jpeg["bytes"][: len(real_jpeg["bytes"]) // 2]
    values = [{"bytes": good}, {"bytes": good}, {"bytes": b"this is not an image"}, {"bytes": truncated}]
    dataset = DecodedImageDataset(image_dataset(values, [0, 1, 2, 0]), "train", "img", "label", image_size=8)
    assert dataset[1]["image"].shape == (3, 8, 8)
    with pytest.raises(CorruptImageError, match=r"index 2 of split 'train' \(column 'img'\)"):
        dataset[2]
    with pytest.raises(CorruptImageError, match="index 3 of split 'train'"):
        dataset.__getitems__([0, 1, 3])
    assert issubclass(CorruptImageError, ValueError)


def test_decoding_converts_modes_and_resizes():
    gray = png_bytes(np.full((10, 10), 200, dtype=np.uint8))
    rgba = png_bytes(np.full((6, 6, 4), 100, dtype=np.uint8))
    dataset = DecodedImageDataset(image_dataset([{"bytes": gray}, {"bytes": rgba}], [0, 1]), "x", "img", "label", 4)
    batch = dataset.__getitems__([0, 1])
    assert [item["image"].shape for item in batch] == [(3, 4, 4), (3, 4, 4)]
    torch.testing.assert_close(batch[0]["image"], torch.full((3, 4, 4), 200 / 255))
    assert [item["label"] for item in batch] == [0, 1]


def test_collator_matches_the_saved_image_processor():
    # The pipeline preprocesses with the processor, training with the collator: they must agree exactly.
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    dataset = DecodedImageDataset(
        image_dataset([{"bytes": png_bytes(a)} for a in arrays], [0, 1, 2]), "test", "img", "label", 16
    )
    collated = ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD)(dataset.__getitems__([0, 1, 2]))
    processor = image_processor_for(16)
    expected = processor([PIL.Image.fromarray(a) for a in arrays], return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(collated["pixel_values"], expected, atol=1e-5, rtol=0)
    assert collated["labels"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="empty batch"):
        ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD)([])


def test_augmentation_identity_and_exact_flip():
    images = torch.rand(4, 3, 8, 8)
    no_change = AugmentationConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_prob=0.0, jitter_prob=0.0)
    torch.testing.assert_close(BatchAugmentation(no_change)(images), images, atol=1e-5, rtol=0)
    always_flip = AugmentationConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_prob=1.0, jitter_prob=0.0)
    torch.testing.assert_close(BatchAugmentation(always_flip)(images), images.flip(-1), atol=1e-5, rtol=0)


def test_augmentation_is_per_sample_seeded_and_in_range():
    images = torch.rand(16, 3, 16, 16).expand(16, 3, 16, 16).clone()
    images[:] = images[0]
    augment = BatchAugmentation()
    torch.manual_seed(0)
    first = augment(images)
    torch.manual_seed(0)
    second = augment(images)
    torch.testing.assert_close(first, second)
    assert first.shape == images.shape
    assert first.min() >= 0.0 and first.max() <= 1.0
    # Identical inputs, different random crops/jitter per sample.
    assert not torch.allclose(first[0], first[1])
