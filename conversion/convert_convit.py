"""Converts a reference ConViT checkpoint (facebookresearch/convit or timm `convit_*`) into a ConViT checkpoint.

    python -m inductive_zoo.conversion.convert_convit --checkpoint convit_tiny.pth --output_dir DIR \\
        [--layer_norm_eps 1e-6] [--check]

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

from . import convert_convit_model, infer_convit_hyperparameters
from .common import load_checkpoint_file, print_conversion_summary, save_converted

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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state_dict = load_checkpoint_file(args.checkpoint)
    print(f"read {len(state_dict)} tensors from {args.checkpoint}")
    inferred = infer_convit_hyperparameters(state_dict)
    print(f"inferred from the weights: {inferred}")
    overrides = {name: getattr(args, name) for name, _, _ in OVERRIDES if getattr(args, name) is not None}
    for name, value in overrides.items():
        if name in inferred and inferred[name] != value:
            print(f"note: --{name} {value} overrides the inferred {inferred[name]}")
    model = convert_convit_model(state_dict, layer_norm_eps=args.layer_norm_eps, **overrides)
    config = model.config
    print_conversion_summary(
        model,
        f"{config.num_hidden_layers} blocks ({config.local_up_to_layer} GPSA), {config.num_attention_heads} heads, "
        f"{config.num_labels} classes, LayerNorm eps {config.layer_norm_eps}",
    )
    save_converted(model, args.output_dir, args.check)


if __name__ == "__main__":
    main()
