"""Converts a transformers ViT image classifier (a Hub id or a local directory) into an IsoTransformer checkpoint.

    python -m inductive_zoo.conversion.convert_vit --checkpoint google/vit-base-patch16-224 --output_dir DIR [--check]

Loads `ViTForImageClassification.from_pretrained(checkpoint)` in float32, converts it with
`inductive_zoo.conversion.convert_vit_model`, compares the logits of both on a random batch (printing the largest
absolute difference, failing above 1e-4), then saves the converted model with `save_pretrained` and the checkpoint's
image processor to DIR. With `--check`, DIR is then reloaded through `AutoModelForImageClassification` and compared
with the ViT again, which also checks the saved files.
"""

import argparse

import torch
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    BaseImageProcessor,
    PreTrainedModel,
    ViTForImageClassification,
)

from inductive_zoo.data.processing import image_processor_for
from inductive_zoo.models.isotropic import IsoTransformerConfig

from . import convert_vit_model

TOLERANCE = 1e-4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="Hub id or local directory of a ViTForImageClassification")
    parser.add_argument("--output_dir", required=True, help="directory to save the converted model and processor to")
    parser.add_argument(
        "--check", action="store_true", help="reload the saved model and compare its logits with the ViT's again"
    )
    return parser.parse_args(argv)


def verify_logits(
    reference: PreTrainedModel, candidate: PreTrainedModel, pixel_values: torch.Tensor, name: str
) -> None:
    """Prints the largest absolute logit difference; exits with an error above `TOLERANCE`."""
    with torch.no_grad():
        difference = (reference(pixel_values).logits - candidate(pixel_values).logits).abs().max().item()
    print(f"{name}: max abs logit difference {difference:.3e} (tolerance {TOLERANCE:.0e})")
    if not difference <= TOLERANCE:
        raise SystemExit(f"{name} does not reproduce the ViT's logits: max abs difference {difference:.3e}")


def image_processor(checkpoint: str, config: IsoTransformerConfig) -> BaseImageProcessor | None:
    """The checkpoint's image processor; without one, the zoo's for `config` (ImageNet statistics) when it supports
    the config, else `None`."""
    try:
        return AutoImageProcessor.from_pretrained(checkpoint)
    except (OSError, ValueError) as error:
        print(f"note: {checkpoint} has no usable image processor ({error})")
    try:
        processor = image_processor_for(config.image_size, config.num_channels)
    except ValueError as error:
        print(f"note: no image processor is saved: {error}")
        return None
    print("note: saving the zoo's image processor (image_processor_for(image_size, num_channels)) instead")
    return processor


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    vit = ViTForImageClassification.from_pretrained(args.checkpoint, dtype=torch.float32).eval()
    model = convert_vit_model(vit)
    config = model.config
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(2, config.num_channels, config.image_size, config.image_size, generator=generator)
    verify_logits(vit, model, pixel_values, "converted model")

    model.save_pretrained(args.output_dir)
    processor = image_processor(args.checkpoint, config)
    if processor is not None:
        processor.save_pretrained(args.output_dir)
    print(f"saved {type(model).__name__} to {args.output_dir}")

    if args.check:
        reloaded = AutoModelForImageClassification.from_pretrained(args.output_dir).eval()
        verify_logits(vit, reloaded, pixel_values, f"{type(reloaded).__name__} reloaded from {args.output_dir}")


if __name__ == "__main__":
    main()
