"""Converts a reference IBiT checkpoint (giriguy/ConvFormer, `Repo/IBiT/IBiT.py`) into an IBiT checkpoint.

    python conversion/convert_ibit.py --checkpoint model299.pt --output_dir DIR [--double_output_projection] [--check]

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

import torch
from safetensors.torch import load_file

from inductive_zoo.conversion import convert_ibit_model, infer_ibit_hyperparameters, unwrap_convit_checkpoint
from inductive_zoo.data import image_processor_for
from inductive_zoo.models.ibit import IBiTForImageClassification

TOLERANCE = 1e-5


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
    print(f"inferred from the weights: {infer_ibit_hyperparameters(state_dict, channels=args.channels)}")
    model = convert_ibit_model(
        state_dict,
        channels=args.channels,
        layer_norm_eps=args.layer_norm_eps,
        double_output_projection=args.double_output_projection,
    )
    config = model.config
    print(
        f"converted to {type(model).__name__}: image {config.image_size}, patch {config.patch_size}, width "
        f"{config.hidden_size}, {config.num_hidden_layers} blocks, {config.num_attention_heads} heads, mask rank "
        f"{config.mask_rank}, {config.num_labels} classes, double output projection "
        f"{config.double_output_projection}, dtype {model.dtype}"
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
        reloaded = IBiTForImageClassification.from_pretrained(args.output_dir).eval()
        with torch.no_grad():
            difference = (model(pixel_values).logits - reloaded(pixel_values).logits).abs().max().item()
        print(f"reloaded {type(reloaded).__name__}: max abs logit difference {difference:.3e}")
        if not difference <= TOLERANCE:
            raise SystemExit(f"the reloaded model differs from the converted one by {difference:.3e}")


if __name__ == "__main__":
    main()
