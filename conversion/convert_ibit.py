"""Converts a reference IBiT checkpoint (giriguy/ConvFormer, `Repo/IBiT/IBiT.py`) into an IBiT checkpoint.

    python -m inductive_zoo.conversion.convert_ibit --checkpoint model299.pt --output_dir DIR \\
        [--double_output_projection] [--check]

Reads a local `.pt`/`.pth` (with `torch.load(weights_only=True)`; the state dict that the reference
`train_IBiT` saves, or a checkpoint dict holding one under `model` / `state_dict`) or `.safetensors` file, infers the
hyperparameters from the weights (`inductive_zoo.conversion.infer_ibit_hyperparameters`), converts with
`inductive_zoo.conversion.convert_ibit_model` (which sets every switch of the reference code: legacy mask roll,
residuals from the normalised input, no final norm, sequence sin-cos positions, LayerNorm epsilon 1e-5, ...) and saves
the model with `save_pretrained` and the zoo's image processor for its image size (ImageNet statistics) to DIR.
The weights do not record the input channels (3 unless `--channels`) nor whether the model was built with the
initial commit's LMSA layer, which applies the output projection twice (`--double_output_projection`; the released
checkpoints were not, see `inductive_zoo.conversion.ibit`). With `--check`, DIR is reloaded and its logits compared
with those of the converted model.
"""

import argparse
from pathlib import Path

from . import convert_ibit_model, infer_ibit_hyperparameters
from .common import load_checkpoint_file, print_conversion_summary, save_converted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="local .pt, .pth or .safetensors file")
    parser.add_argument("--output_dir", required=True, type=Path, help="directory to save the converted model to")
    parser.add_argument("--channels", type=int, default=3, help="input channels of the reference model")
    parser.add_argument("--layer_norm_eps", type=float, default=1e-5, help="LayerNorm epsilon of the reference model")
    parser.add_argument(
        "--double_output_projection",
        action="store_true",
        help="the model was built with the initial commit's LMSA layer (final_linear applied twice)",
    )
    parser.add_argument("--check", action="store_true", help="reload the saved model and compare its logits")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state_dict = load_checkpoint_file(args.checkpoint)
    print(f"read {len(state_dict)} tensors from {args.checkpoint}")
    print(f"inferred from the weights: {infer_ibit_hyperparameters(state_dict, channels=args.channels)}")
    model = convert_ibit_model(
        state_dict,
        channels=args.channels,
        layer_norm_eps=args.layer_norm_eps,
        double_output_projection=args.double_output_projection,
    )
    config = model.config
    print_conversion_summary(
        model,
        f"{config.num_hidden_layers} blocks, {config.num_attention_heads} heads, mask rank {config.mask_rank}, "
        f"{config.num_labels} classes, double output projection {config.double_output_projection}",
    )
    save_converted(model, args.output_dir, args.check)


if __name__ == "__main__":
    main()
