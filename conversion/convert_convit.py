"""Converts a reference ConViT checkpoint (facebookresearch/convit or timm `convit_*`) into a ConViT checkpoint.

    python conversion/convert_convit.py --checkpoint convit_tiny.pth --output_dir DIR [--layer_norm_eps 1e-6] [--check]

Reads a local `.pth` (with `torch.load(weights_only=True)`; a plain state dict or a training checkpoint
`{"model": state_dict, ...}`) or `.safetensors` file, infers the hyperparameters from the weights
(`inductive_zoo.conversion.infer_convit_hyperparameters`), applies the overrides given on the command line, converts
with `inductive_zoo.conversion.convert_convit_model` and saves the model with `save_pretrained` and the zoo's image
processor for its image size (ImageNet statistics) to DIR. The weights do not record `locality_strength` (it only
matters for initialisation), nor the image size of a model without position embedding, nor the head count of a model
without GPSA blocks: give those when they matter. The released ConViT-Ti/S/B use LayerNorm epsilon 1e-6, the default;
a bare `convit.VisionTransformer` uses 1e-5. With `--check`, DIR is reloaded through
`AutoModelForImageClassification` and its logits compared with those of the converted model.
"""

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageClassification

import inductive_zoo  # noqa: F401  (registers ConViT with the Auto classes)
from inductive_zoo.conversion import convert_convit_model, infer_convit_hyperparameters, unwrap_convit_checkpoint
from inductive_zoo.data import image_processor_for

TOLERANCE = 1e-5
# Hyperparameter overrides: (name, type, help).
OVERRIDES = (
    ("img_size", int, "input image side (needed when the checkpoint has no pos_embed)"),
    ("patch_size", int, "patch side"),
    ("embed_dim", int, "token width (num_heads x the per-head width of the convit_* factories)"),
    ("depth", int, "number of blocks"),
    ("num_heads", int, "attention heads (needed when the checkpoint has no GPSA block)"),
    ("mlp_ratio", float, "MLP hidden width / embed_dim"),
    ("local_up_to_layer", int, "number of GPSA blocks"),
    ("locality_strength", float, "alpha of the local initialisation (default 1.0; not recorded in the weights)"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="local .pth or .safetensors file")
    parser.add_argument("--output_dir", required=True, type=Path, help="directory to save the converted model to")
    parser.add_argument("--layer_norm_eps", type=float, default=1e-6, help="LayerNorm epsilon of the reference model")
    for name, kind, help_text in OVERRIDES:
        parser.add_argument(f"--{name}", type=kind, default=None, help=f"override: {help_text}")
    parser.add_argument("--check", action="store_true", help="reload the saved model and compare its logits")
    return parser.parse_args(argv)


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise SystemExit(f"no checkpoint file at {path}")
    if path.suffix == ".safetensors":
        checkpoint = load_file(str(path))
    else:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return dict(unwrap_convit_checkpoint(checkpoint))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state_dict = load_state_dict(args.checkpoint)
    print(f"read {len(state_dict)} tensors from {args.checkpoint}")
    inferred = infer_convit_hyperparameters(state_dict)
    print(f"inferred from the weights: {inferred}")
    overrides = {name: getattr(args, name) for name, _, _ in OVERRIDES if getattr(args, name) is not None}
    for name, value in overrides.items():
        if name in inferred and inferred[name] != value:
            print(f"note: --{name} {value} overrides the inferred {inferred[name]}")
    model = convert_convit_model(state_dict, layer_norm_eps=args.layer_norm_eps, **overrides)
    config = model.config
    print(
        f"converted to {type(model).__name__}: image {config.image_size}, patch {config.patch_size}, width "
        f"{config.hidden_size}, {config.num_hidden_layers} blocks ({config.local_up_to_layer} GPSA), "
        f"{config.num_attention_heads} heads, {config.num_labels} classes, LayerNorm eps {config.layer_norm_eps}, "
        f"dtype {model.dtype}"
    )

    model.save_pretrained(args.output_dir)
    try:
        image_processor_for(config.image_size, config.num_channels).save_pretrained(args.output_dir)
        saved = "model and image processor"
    except ValueError as error:
        saved = f"model (no image processor: {error})"
    print(f"saved the {saved} to {args.output_dir}")

    if args.check:
        generator = torch.Generator().manual_seed(0)
        size = (2, config.num_channels, config.image_size, config.image_size)
        pixel_values = torch.randn(size, generator=generator).to(model.dtype)
        reloaded = AutoModelForImageClassification.from_pretrained(args.output_dir).eval()
        with torch.no_grad():
            difference = (model(pixel_values).logits - reloaded(pixel_values).logits).abs().max().item()
        print(f"reloaded {type(reloaded).__name__}: max abs logit difference {difference:.3e}")
        if not difference <= TOLERANCE:
            raise SystemExit(f"the reloaded model differs from the converted one by {difference:.3e}")


if __name__ == "__main__":
    main()
