"""Data efficiency: top-1 accuracy against the fraction of training data, per variant (the central claim of PRS, Lee
et al. 2022, and IBiT, Giri 2025; ConViT's Table 2, d'Ascoli et al. 2021).

    inductive-zoo study data-efficiency --dataset ../shared/datasets/cifar10 --output_dir outputs/study-data \
        --variants iso_transformer,prs_vit,convit --fractions 0.05,0.1,0.25,0.5,1.0 --seeds 0,1,2 --max_steps 5000

Every variant is trained from scratch with one recipe (`inductive_zoo.training.image_classification`: AdamW,
cosine schedule, the batched augmentation) on a class-balanced fraction of the training split, for the same number
of optimisation steps at every fraction (smaller fractions see more epochs), then evaluated on the evaluation split.
The token variants share the width, depth, heads and MLP size of the PRS-ViT preset (ConViT gets as many GPSA blocks
as PRS-ViT has reparameterizable ones); CADA-ResNet, a CNN, keeps its own `--cada_preset`. PRS-ViT follows
`--schedule` with `E = round(conv_fraction x epochs of its cell)` convolution epochs. Seed `s` draws both the
initialisation and the data subset.

Each finished cell (variant, fraction, seed) is stored as `cells/<variant>-f<fraction>-s<seed>.json`, written
atomically; a rerun skips stored cells, so an interrupted study resumes where it stopped (a cell cut short is
trained again from its start). The settings the cells depend on are kept in `settings.json`; resuming with other
settings is refused. The model of each cell is saved in `runs/<cell>/`. Writes `results.csv` (one row per
cell), `results.md` (mean +- std of top-1 over seeds), `data_efficiency.png`, `command.txt` and `environment.json`.
Arguments after `--` go to every training run (any `TrainingArguments` or data option).
"""

import argparse
import json
import math
import statistics
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import load_image_dataset
from ..models.prs_vit import PRSViTConfig
from ..models.registry import MANIFESTS_BY_MODEL_TYPE
from ..training.atomic_writes import write_json_atomic
from ..training.image_classification import parse_args, run
from .plotting import figure_grid, save_figure
from .study_outputs import comma_list, markdown_table, record_run, write_csv

STUDY_VARIANTS = tuple(MANIFESTS_BY_MODEL_TYPE)

RECIPE = [
    "--learning_rate", "1e-3",
    "--weight_decay", "0.05",
    "--lr_scheduler_type", "cosine",
    "--warmup_steps", "0.05",
    "--eval_strategy", "no",
    "--save_strategy", "no",
    "--logging_steps", "50",
    "--report_to", "none",
    "--do_train", "--do_eval",
]  # fmt: skip
# The arguments that change what a cell trains: a study directory holds cells of one setting of them.
CELL_SETTINGS = (
    "dataset", "max_steps", "batch_size", "max_eval_samples", "preset", "cada_preset", "schedule", "conv_fraction",
    "extra",
)  # fmt: skip


@dataclass(frozen=True)
class Cell:
    """One training run of the study: a variant on a fraction of the training data with a seed."""

    variant: str
    fraction: float
    seed: int

    @property
    def name(self) -> str:
        return f"{self.variant}-f{self.fraction:g}-s{self.seed}"


def variant_arguments(variant: str, preset: str, cada_preset: str) -> list[str]:
    """Model arguments of the recipe for `variant`: equal geometry, width, depth and MLP size (the PRS-ViT preset's),
    heads for the attention variants, as many local blocks as PRS-ViT reparameterizable blocks
    (`VariantManifest.matched_overrides`); a convolutional variant takes `cada_preset`."""
    if variant not in STUDY_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {STUDY_VARIANTS}")
    manifest = MANIFESTS_BY_MODEL_TYPE[variant]
    if not manifest.token_model:
        return ["--model_type", variant, "--preset", cada_preset]
    overrides = manifest.matched_overrides(PRSViTConfig.from_preset(preset))
    return [
        "--model_type", variant, "--preset", preset,
        "--config_overrides", ",".join(f"{name}={value}" for name, value in overrides.items()),
    ]  # fmt: skip


def subset_size(label_counts: Counter, fraction: float) -> int:
    """The number of training images `class_balanced_subset` selects: `max(1, round(fraction * n_c))` per class."""
    if fraction == 1.0:
        return sum(label_counts.values())
    return sum(max(1, round(fraction * count)) for count in label_counts.values())


def cell_arguments(cell: Cell, args: argparse.Namespace, label_counts: Counter) -> list[str]:
    """The full recipe command line of one cell (without the output directory)."""
    arguments = [
        *variant_arguments(cell.variant, args.preset, args.cada_preset),
        *RECIPE,
        "--dataset", args.dataset,
        "--train_fraction", f"{cell.fraction:g}",
        "--subset_seed", str(cell.seed),
        "--seed", str(cell.seed),
        "--max_steps", str(args.max_steps),
        "--per_device_train_batch_size", str(args.batch_size),
        "--per_device_eval_batch_size", str(args.eval_batch_size),
    ]  # fmt: skip
    if args.max_eval_samples is not None:
        arguments += ["--max_eval_samples", str(args.max_eval_samples)]
    if hasattr(MANIFESTS_BY_MODEL_TYPE[cell.variant].image_classification_class, "reparameterize"):
        epochs = math.ceil(args.max_steps / math.ceil(subset_size(label_counts, cell.fraction) / args.batch_size))
        arguments += ["--schedule", args.schedule, "--conv_epochs", str(round(args.conv_fraction * epochs))]
    return arguments + args.extra


def train_cell(cell: Cell, arguments: list[str], run_dir: Path) -> dict[str, Any]:
    """Trains and evaluates one cell with the recipe; returns what its stored JSON holds."""
    _, metrics = run(*parse_args([*arguments, "--output_dir", str(run_dir)]))
    return {
        "variant": cell.variant,
        "fraction": cell.fraction,
        "seed": cell.seed,
        "top1": metrics["eval_accuracy"],
        "top5": metrics["eval_top5_accuracy"],
        "epochs": metrics.get("epoch"),
        "train_runtime_s": metrics.get("train_runtime"),
        "arguments": arguments,
    }


def check_settings(args: argparse.Namespace, output_dir: Path) -> None:
    """Stores the settings every cell depends on in `settings.json`, or, when resuming, checks that they are the
    stored ones (stored cells trained otherwise would silently enter the table)."""
    settings = {key: getattr(args, key) for key in CELL_SETTINGS}
    path = output_dir / "settings.json"
    if path.exists():
        stored = json.loads(path.read_text())
        changed = {key: (stored.get(key), value) for key, value in settings.items() if stored.get(key) != value}
        if changed:
            raise ValueError(
                f"{output_dir} holds cells trained with other settings (stored, requested): {changed}; "
                "choose another --output_dir"
            )
    else:
        write_json_atomic(path, settings)


def run_cells(cells: list[Cell], args: argparse.Namespace, output_dir: Path) -> list[dict[str, Any]]:
    """Trains every cell whose JSON is not stored yet (storing it atomically when done); returns all cells' records."""
    check_settings(args, output_dir)
    data = load_image_dataset(args.dataset)
    label_counts = Counter(data.splits["train"][data.label_column])
    records = []
    for cell in cells:
        path = output_dir / "cells" / f"{cell.name}.json"
        if not path.exists():
            record = train_cell(cell, cell_arguments(cell, args, label_counts), output_dir / "runs" / cell.name)
            record["train_images"] = subset_size(label_counts, cell.fraction)
            record["max_steps"] = args.max_steps
            write_json_atomic(path, record)
        records.append(json.loads(path.read_text()))
    return records


def summarise(records: list[dict[str, Any]], args: argparse.Namespace, output_dir: Path) -> str:
    """Writes `results.csv`, `results.md` and `data_efficiency.png`; returns the Markdown."""
    columns = ["variant", "fraction", "seed", "train_images", "max_steps", "epochs", "top1", "top5", "train_runtime_s"]
    write_csv(output_dir / "results.csv", records, columns)
    variants = list(dict.fromkeys(record["variant"] for record in records))
    fractions = sorted({record["fraction"] for record in records})
    top1: dict[tuple[str, float], list[float]] = {}
    for record in records:
        top1.setdefault((record["variant"], record["fraction"]), []).append(record["top1"])

    def cell_text(values: list[float]) -> str:
        spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
        return f"{statistics.mean(values):.3f}{spread} (n={len(values)})"

    images = {record["fraction"]: record["train_images"] for record in records}
    header = ["variant", *(f"{fraction:g} ({images[fraction]} images)" for fraction in fractions)]
    rows = [[variant, *(cell_text(top1.get((variant, f), [])) for f in fractions)] for variant in variants]
    eval_size = "all" if args.max_eval_samples is None else f"the first {args.max_eval_samples}"
    markdown = (
        f"Top-1 accuracy (mean ± std over seeds, n = number of seeds) on {eval_size} evaluation images of "
        f"{args.dataset}; every cell trained from scratch for {args.max_steps} steps of batch {args.batch_size} "
        f"(preset {args.preset}).\n\n" + markdown_table(header, rows)
    )
    (output_dir / "results.md").write_text(markdown)

    figure, axes = figure_grid(1, 1, panel_inches=(5.0, 3.6))
    axis = axes[0][0]
    for variant in variants:
        present = [f for f in fractions if (variant, f) in top1]
        means = [statistics.mean(top1[variant, f]) for f in present]
        spreads = [statistics.stdev(top1[variant, f]) if len(top1[variant, f]) > 1 else 0.0 for f in present]
        axis.errorbar(present, means, yerr=spreads, marker="o", capsize=3, label=variant)
    axis.set_xscale("log")
    axis.set_xticks(fractions, [f"{fraction:g}" for fraction in fractions])
    axis.set_xlabel("fraction of the training set")
    axis.set_ylabel("top-1 accuracy")
    axis.set_title(f"{args.dataset.rstrip('/').split('/')[-1]}, {args.max_steps} steps per cell")
    axis.legend(fontsize="small")
    save_figure(figure, output_dir / "data_efficiency.png")
    return markdown


def parse_study_args(argv: list[str]) -> argparse.Namespace:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="uoft-cs/cifar10")
    parser.add_argument("--variants", type=comma_list(str), default=["iso_transformer", "prs_vit", "convit"])
    parser.add_argument("--fractions", type=comma_list(float), default=[0.05, 0.1, 0.25, 0.5, 1.0])
    parser.add_argument("--seeds", type=comma_list(int), default=[0])
    parser.add_argument("--max_steps", type=int, default=300, help="optimisation steps of every cell")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--eval_batch_size", type=int, default=500)
    parser.add_argument("--max_eval_samples", type=int, default=None, help="evaluate on the first N images only")
    parser.add_argument("--preset", default="micro-patch4-32", help="PRS-ViT preset whose dims every variant shares")
    parser.add_argument("--cada_preset", default="micro-32")
    parser.add_argument("--schedule", default="linear", help="PRS-ViT reparameterization schedule")
    parser.add_argument("--conv_fraction", type=float, default=0.5, help="PRS-ViT: share of epochs E as convolution")
    parser.add_argument("--output_dir", default="outputs/study-data-efficiency")
    args = parser.parse_args(argv)
    for variant in args.variants:
        if variant not in STUDY_VARIANTS:
            parser.error(f"unknown variant {variant!r}; choose from {', '.join(STUDY_VARIANTS)}")
    args.extra = extra
    return args


def main(argv: list[str] | None = None) -> str:
    """Command-line entry point: `inductive-zoo study data-efficiency ...`; returns the Markdown table."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_study_args(argv)
    output_dir = Path(args.output_dir)
    record_run(output_dir, "data-efficiency", argv)
    cells = [Cell(v, f, s) for v in args.variants for f in args.fractions for s in args.seeds]
    markdown = summarise(run_cells(cells, args, output_dir), args, output_dir)
    print(markdown)
    return markdown
