"""What the analysis studies run on: zoo models named on the command line, and a batch of real images."""

import argparse
from pathlib import Path

import torch
from transformers import AutoModelForImageClassification, PreTrainedModel

from ..data import DecodedImageDataset, ImageClassificationCollator, load_image_dataset
from ..data.processing import IMAGENET_MEAN, IMAGENET_STD
from ..training.image_classification import CONFIG_CLASSES, parse_overrides


def parse_labelled(spec: str) -> tuple[str, str]:
    """`"label=source"` -> `("label", "source")`; a bare `"source"` is its own label."""
    label, separator, source = spec.partition("=")
    return (label, source) if separator else (spec, spec)


def load_model(source: str, num_labels: int = 10) -> PreTrainedModel:
    """An image-classification model of the zoo, in eval mode, from `source`: a checkpoint directory or Hub id
    (`from_pretrained`), or `model_type:preset[:field=value,...]` for a freshly initialised model."""
    if Path(source).exists() or ":" not in source:
        model = AutoModelForImageClassification.from_pretrained(source)
    else:
        model_type, _, rest = source.partition(":")
        preset, _, overrides = rest.partition(":")
        if model_type not in CONFIG_CLASSES:
            raise ValueError(f"unknown model_type {model_type!r} in {source!r}; choose one of {sorted(CONFIG_CLASSES)}")
        config = CONFIG_CLASSES[model_type].from_preset(preset, num_labels=num_labels, **parse_overrides(overrides))
        model = AutoModelForImageClassification.from_config(config)
    return model.eval()


def image_batch(dataset: str, num_images: int, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `num_images` images of `dataset`'s evaluation split: `(images in [0, 1], pixel_values)`, both
    `(num_images, 3, image_size, image_size)`, the pixel values normalised with the zoo's ImageNet statistics (the
    statistics of every preset's image processor)."""
    data = load_image_dataset(dataset)
    split = data.splits[data.eval_split]
    rows = DecodedImageDataset(split, data.eval_split, data.image_column, data.label_column, image_size)
    examples = rows.__getitems__(list(range(min(num_images, len(rows)))))
    images = torch.stack([example["image"] for example in examples])
    return images, ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD).pixel_values(examples)


def analysis_parser(description: str, num_images: int, output_dir: str) -> argparse.ArgumentParser:
    """The arguments every analysis study shares: the models (`--model LABEL=SOURCE`, repeatable), the dataset whose
    evaluation images they run on and how many, the output folder, and the seed of freshly initialised models."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        help="LABEL=SOURCE, repeatable; SOURCE: a checkpoint directory, a Hub id, or model_type:preset[:overrides]",
    )
    parser.add_argument("--dataset", default="uoft-cs/cifar10", help="images from its evaluation split")
    parser.add_argument("--num_images", type=int, default=num_images)
    parser.add_argument("--output_dir", default=output_dir)
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed of model_type:preset models")
    return parser
