"""The isotropic paper's study (Cazenavette & Lucey 2021, "On the Bias Against Inductive Biases"): isotropic networks
with a transformer, MLP-Mixer or convolutional token mixer, of equal width and depth, pre-trained by BERT-style masked
reconstruction; held-out reconstruction loss, k-NN and linear-probe accuracy of the frozen backbone against depth.

    inductive-zoo study isotropic-bias --dataset ../shared/datasets/cifar10 --train_fraction 0.1 \
        --depths 2,4,8 --num_train_epochs 8 --output_dir outputs/isotropic-bias

Every (token mixer, depth) cell is one run of the pre-training recipe (`training.pretraining.run`, objective `mim`)
from the same preset with `num_hidden_layers` set, one shared recipe (AdamW, cosine schedule, the same masks' ratio
and patch size) and mean pooling for every mixer, so that the frozen feature is read out the same way (the
transformer's class token is not trained by a reconstruction loss). Targets are per-patch normalised pixels
(`mim_norm_target`, MAE's choice; in our first short runs with raw-pixel targets k-NN accuracy fell below
the initialisation's). Each finished cell is stored as
`cells/{mixer}-depth{depth}.json` (written atomically); a rerun skips it. Outputs: `results.csv`, `results.md`,
`isotropic_bias.png` (reconstruction loss and probe accuracies against depth, one line per mixer),
`reconstructions.png` (held-out images, their masked input and every cell's reconstruction), `command.txt` and
`environment.json`.

The paper reports figures, not tables, so "equal size" is our choice: the same width, MLP width and depth, which
gives the mixers different parameter counts (reported per cell); see the model card and `training/RESULTS.md`.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForMaskedImageModeling, TrainingArguments

from ..data import DecodedImageDataset, MaskedImageModelingCollator, load_image_dataset
from ..data.processing import IMAGENET_MEAN, IMAGENET_STD
from ..models.masked_image_modeling import reconstructed_image
from ..models.registry import MANIFESTS
from ..training.atomic_writes import write_json_atomic
from ..training.pretraining import PretrainingArguments
from ..training.pretraining import run as run_pretraining
from .plotting import figure_grid, save_figure
from .study_outputs import comma_list, markdown_table, record_run, write_csv

# Cazenavette & Lucey's three mixers (the default cells), by the names the paper gives them; every other variant of the
# manifests with one token mixer in every block (IsoPoolFormer, IBiT) can join with `--mixers`, under its display name.
PAPER_MIXERS = {"iso_transformer": "transformer", "iso_mixer": "MLP-Mixer", "iso_convnet": "convolution"}
MIXERS = {
    **{
        manifest.model_type: manifest.display_name
        for manifest in MANIFESTS
        if manifest.model_class.is_token_model and manifest.model_class.local_layers_field is None
    },
    **PAPER_MIXERS,
}
COLUMNS = (
    "mixer", "depth", "parameters", "train_images", "epochs", "train_loss",
    "reconstruction_loss_initial", "reconstruction_loss", "knn_initial", "knn", "linear_probe_initial", "linear_probe",
)  # fmt: skip


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="inductive-zoo study isotropic-bias", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default="outputs/isotropic-bias")
    parser.add_argument("--dataset", default="digits", help="'digits', a Hub id or a local directory in Hub layout")
    parser.add_argument("--train_fraction", type=float, default=0.1, help="class-balanced fraction of train")
    parser.add_argument("--mixers", type=comma_list(str), default=list(PAPER_MIXERS), help=f"some of {list(MIXERS)}")
    parser.add_argument("--depths", type=comma_list(int), default=[2, 4, 8])
    parser.add_argument("--preset", default="micro-patch4-32", help="width and geometry shared by every cell")
    parser.add_argument("--mask_ratio", type=float, default=0.6)
    parser.add_argument("--num_train_epochs", type=float, default=8)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=2e-3)
    parser.add_argument("--weight_decay", type=float, default=0.05)
    parser.add_argument("--eval_bank_size", type=int, default=5000, help="training images in the k-NN/probe bank")
    parser.add_argument("--eval_size", type=int, default=2000, help="held-out images for every evaluation")
    parser.add_argument("--num_reconstructions", type=int, default=6, help="images in reconstructions.png")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def cell_name(mixer: str, depth: int) -> str:
    return f"{mixer}-depth{depth}"


def run_cell(args: argparse.Namespace, mixer: str, depth: int) -> dict[str, Any]:
    """Pre-trains one (mixer, depth) cell with the pre-training recipe and returns its row of the table."""
    overrides = f"num_hidden_layers={depth},pooling=mean,mim_norm_target=true,mim_mask_ratio={args.mask_ratio}"
    pretraining_args = PretrainingArguments(
        objective="mim", model_type=mixer, preset=args.preset, config_overrides=overrides, dataset=args.dataset,
        train_fraction=args.train_fraction, eval_bank_size=args.eval_bank_size, eval_size=args.eval_size,
    )  # fmt: skip
    training_args = TrainingArguments(
        output_dir=str(Path(args.output_dir) / "runs" / cell_name(mixer, depth)),
        num_train_epochs=args.num_train_epochs, per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate, weight_decay=args.weight_decay, lr_scheduler_type="cosine",
        warmup_steps=0.05, save_strategy="no", logging_steps=20, report_to="none", seed=args.seed,
        dataloader_pin_memory=False,
    )  # fmt: skip
    results = run_pretraining(pretraining_args, training_args)
    model = AutoModelForMaskedImageModeling.from_pretrained(training_args.output_dir)
    initial, pretrained = results["initial"], results["pretrained"]
    return {
        "mixer": mixer, "depth": depth, "parameters": sum(p.numel() for p in model.base_model.parameters()),
        "train_images": results["train_images"], "epochs": args.num_train_epochs, "train_loss": results["train_loss"],
        "reconstruction_loss_initial": initial["reconstruction_loss"],
        "reconstruction_loss": pretrained["reconstruction_loss"],
        "knn_initial": initial["knn_accuracy"], "knn": pretrained["knn_accuracy"],
        "linear_probe_initial": initial["linear_probe_accuracy"], "linear_probe": pretrained["linear_probe_accuracy"],
    }  # fmt: skip


def write_table(output_dir: Path, rows: list[dict[str, Any]]) -> None:
    write_csv(output_dir / "results.csv", rows, COLUMNS)
    header = ("mixer", "depth", "params", "recon. loss (init -> MIM)", "k-NN (init -> MIM)", "probe (init -> MIM)")
    lines = [
        (
            MIXERS[row["mixer"]],
            row["depth"],
            f"{row['parameters'] / 1e6:.2f}M",
            f"{row['reconstruction_loss_initial']:.3f} -> {row['reconstruction_loss']:.3f}",
            f"{row['knn_initial']:.3f} -> {row['knn']:.3f}",
            f"{row['linear_probe_initial']:.3f} -> {row['linear_probe']:.3f}",
        )
        for row in rows
    ]
    (output_dir / "results.md").write_text(markdown_table(header, lines))


def plot_against_depth(output_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Held-out reconstruction loss, k-NN and linear-probe accuracy against depth per mixer: solid after
    pre-training, dashed at initialisation (the same seed's untrained network)."""
    panels = (("reconstruction_loss", "held-out reconstruction loss"), ("knn", "k-NN accuracy"),
              ("linear_probe", "linear-probe accuracy"))  # fmt: skip
    figure, axes = figure_grid(1, len(panels), (4.0, 3.2))
    depths = sorted({row["depth"] for row in rows})
    for axis, (key, title) in zip(axes[0], panels, strict=True):
        for index, mixer in enumerate(dict.fromkeys(row["mixer"] for row in rows)):
            cells = sorted((row["depth"], row[key], row[f"{key}_initial"]) for row in rows if row["mixer"] == mixer)
            if not cells:
                continue
            depth, after, before = zip(*cells, strict=True)
            colour = f"C{index}"
            axis.plot(depth, after, marker="o", color=colour, label=f"{MIXERS[mixer]}, MIM")
            axis.plot(depth, before, linestyle="--", color=colour, alpha=0.6, label=f"{MIXERS[mixer]}, init")
        axis.set_xticks(depths)
        axis.set_xlabel("depth (blocks)")
        axis.set_title(title)
    axes[0][1].legend(fontsize=7)
    save_figure(figure, output_dir / "isotropic_bias.png")


def plot_reconstructions(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """One row per held-out image: the image, its masked input, then every cell's reconstruction (masked patches
    predicted, visible ones shown as given), all with the same seeded masks."""
    output_dir = Path(args.output_dir)
    data = load_image_dataset(args.dataset, seed=0)
    split = data.splits[data.eval_split]
    cells = [(row["mixer"], row["depth"]) for row in rows]
    models = [
        AutoModelForMaskedImageModeling.from_pretrained(output_dir / "runs" / cell_name(*cell)).eval() for cell in cells
    ]
    config = models[0].config
    dataset = DecodedImageDataset(split, data.eval_split, data.image_column, data.label_column, config.image_size)
    examples = dataset.__getitems__(list(range(min(args.num_reconstructions, len(dataset)))))
    collator = MaskedImageModelingCollator.from_config(
        config, IMAGENET_MEAN, IMAGENET_STD, generator=torch.Generator().manual_seed(args.seed)
    )
    batch = collator(examples)
    mean = torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, -1, 1, 1)
    masked_input = reconstructed_image(
        torch.zeros_like(batch["pixel_values"]), batch["pixel_values"], batch["bool_masked_pos"],
        config.mim_patch_size,
    )  # fmt: skip
    columns = [("image", batch["pixel_values"]), ("masked", masked_input)]
    with torch.inference_mode():
        for (mixer, depth), model in zip(cells, models, strict=True):
            outputs = model(**batch)
            image = reconstructed_image(
                outputs.reconstruction, batch["pixel_values"], batch["bool_masked_pos"],
                config.mim_patch_size, norm_target=model.config.mim_norm_target,
            )  # fmt: skip
            columns.append((f"{MIXERS[mixer]}\ndepth {depth}", image))
    figure, axes = figure_grid(len(examples), len(columns), (1.1, 1.1))
    for column, (title, images) in enumerate(columns):
        pixels = (images * std + mean).clamp(0, 1).permute(0, 2, 3, 1)
        for row in range(len(examples)):
            axis = axes[row][column]
            axis.imshow(pixels[row].numpy())
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=7)
    save_figure(figure, output_dir / "reconstructions.png")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Runs every missing cell, then writes the table, the plots and the record of the run; returns the rows."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    unknown = sorted(set(args.mixers) - set(MIXERS))
    if unknown:
        raise ValueError(f"--mixers must be among {list(MIXERS)}, got {unknown}")
    output_dir = Path(args.output_dir)
    record_run(output_dir, "isotropic-bias", argv)
    rows = []
    for mixer in args.mixers:
        for depth in args.depths:
            cell_path = output_dir / "cells" / f"{cell_name(mixer, depth)}.json"
            if not cell_path.exists():
                write_json_atomic(cell_path, run_cell(args, mixer, depth))
            rows.append(json.loads(cell_path.read_text()))
    write_table(output_dir, rows)
    plot_against_depth(output_dir, rows)
    plot_reconstructions(args, rows)
    return rows
