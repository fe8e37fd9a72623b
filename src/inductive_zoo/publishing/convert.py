"""`inductive-zoo convert {vit,convit,ibit} --checkpoint SOURCE --output_dir DIR [script options]`: runs the
conversion script `inductive_zoo.conversion.convert_{kind}` (which converts, checks and saves the model and its
image processor), then renders the variant's model card into DIR and records where the weights came from, so that
DIR is ready for `inductive-zoo publish DIR --repo-id ORG/NAME --allow-unevaluated` (converted weights come
without our evaluation)."""

import argparse
import json
from importlib import import_module
from pathlib import Path

from .cards import CardInputs, render_model_card

# Written next to the converted model; `publish` adds its notes to the card.
CONVERSION_RECORD = "conversion.json"
# Per source layout: the conversion script's module and what the card says about the source.
CONVERTERS = {
    "vit": (
        "convert_vit",
        "a transformers `ViTForImageClassification`; the conversion checked that the logits agree within 1e-4",
    ),
    "convit": ("convert_convit", "the reference ConViT (facebookresearch/convit, timm's `convit_*` key layout)"),
    "ibit": ("convert_ibit", "the IBiT author's code (key layout of his `IBiT.py`/`IBiTBlock.py`)"),
}


def run_conversion_script(kind: str, argv: list[str]) -> None:
    """Runs `inductive_zoo.conversion.{module}`'s `main(argv)`."""
    import_module(f"...conversion.{CONVERTERS[kind][0]}", __name__).main(argv)


def convert(kind: str, checkpoint: str, output_dir: str | Path, script_args: list[str] | None = None) -> Path:
    """Converts `checkpoint` with the `kind` script into `output_dir`, then writes its card (`README.md`) and
    `conversion.json`; returns `output_dir`.

    Raises:
        ValueError: `kind` is not one of `CONVERTERS`.
    """
    from transformers import AutoConfig

    if kind not in CONVERTERS:
        raise ValueError(f"unknown source layout {kind!r}; choose one of {sorted(CONVERTERS)}")
    output_dir = Path(output_dir)
    run_conversion_script(
        kind, ["--checkpoint", str(checkpoint), "--output_dir", str(output_dir), *(script_args or [])]
    )
    note = f"Converted with `inductive-zoo convert {kind}` from `{checkpoint}`, {CONVERTERS[kind][1]}."
    (output_dir / CONVERSION_RECORD).write_text(
        json.dumps({"kind": kind, "source": str(checkpoint), "notes": [note]}, indent=2) + "\n"
    )
    config = AutoConfig.from_pretrained(output_dir)
    inputs = CardInputs(
        repo_id=output_dir.name,
        config=config,
        loading="package",
        metrics={},
        summary=None,
        dataset_id=None,
        notes=[note],
    )
    render_model_card(inputs).save(output_dir / "README.md")
    print(f"wrote the model card and {CONVERSION_RECORD} to {output_dir}")
    return output_dir


def main(argv: list[str] | None = None) -> Path:
    """Command-line entry point; arguments after the known ones go to the conversion script."""
    parser = argparse.ArgumentParser(prog="inductive-zoo convert", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(CONVERTERS), help="layout of the source checkpoint")
    parser.add_argument(
        "--checkpoint", required=True, help="the source checkpoint (see the scripts inductive_zoo.conversion.convert_*)"
    )
    parser.add_argument("--output_dir", "--output-dir", required=True, type=Path, help="where to write the model")
    args, script_args = parser.parse_known_args(argv)
    return convert(args.kind, args.checkpoint, args.output_dir, script_args)
