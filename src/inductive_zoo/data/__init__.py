"""Data loading, decoding and batched tensor augmentation."""

from .augmentation import AugmentationConfig, BatchAugmentation, ImageClassificationCollator
from .datasets import (
    UNLABELLED,
    ImageClassificationData,
    class_balanced_indices,
    class_balanced_subset,
    digits_dataset,
    held_out_indices,
    held_out_subset,
    load_image_dataset,
    with_unlabelled_images,
)
from .decoding import CorruptImageError, DecodedImageDataset
from .masking import MaskedImageModelingCollator
from .mixing import MixupCutmixCollator, MixupCutmixConfig, smoothed_targets
from .processing import IMAGENET_MEAN, IMAGENET_STD, image_processor_for

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "UNLABELLED",
    "AugmentationConfig",
    "BatchAugmentation",
    "CorruptImageError",
    "DecodedImageDataset",
    "ImageClassificationCollator",
    "ImageClassificationData",
    "MaskedImageModelingCollator",
    "MixupCutmixCollator",
    "MixupCutmixConfig",
    "class_balanced_indices",
    "class_balanced_subset",
    "digits_dataset",
    "held_out_indices",
    "held_out_subset",
    "image_processor_for",
    "load_image_dataset",
    "smoothed_targets",
    "with_unlabelled_images",
]
