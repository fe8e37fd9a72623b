"""Data efficiency: top-1 accuracy against the number of training images, per model, each trained by its own recipe
of the catalogue (the claim every paper of the zoo rests on: ConViT's Table 2, d'Ascoli et al. 2021; PRS, Lee et al.
2022; IBiT, Giri 2025; Cazenavette & Lucey 2021).

    inductive-zoo study data-efficiency --dataset ../shared/datasets/cifar10 --output_dir outputs/study-data \\
        --recipes cifar10-10pct-fast-prs-vit,cifar10-10pct-fast-iso-transformer \\
        --fractions 0.01,0.02,0.05,0.1,0.2,0.5,1.0 --spread_seeds 0,1 --spread_up_to 0.05 \\
        --prs_conv_fractions 0,0.25,0.5 --prs_fractions 0.02,0.5

The protocol is ConViT's: every cell of a recipe sees the same number of training images (`--images_seen`; by default
what the recipe's own 10 % row sees, its epochs x the 10 % subset, so that a cell costs about one 10 % row), so
smaller fractions get more epochs. A cell is (recipe, fraction, seed[, PRS convolution share]): the recipe's
arguments, a class-balanced `--train_fraction` subset drawn with `--subset_seed` = seed (so seeds differ in their
images too), `--max_steps` for the budget, no evaluation during training, and the final evaluation on the whole
evaluation split (the test split). PRS-ViT's convolution epochs follow the cell: `E = round(share x the cell's
epochs)`, the share being the recipe's own (`conv_epochs / num_train_epochs`) unless the cell sets one (PRS's claim
that the best amount of convolution depends on the data size: `--prs_conv_fractions` at `--prs_fractions`).

Every cell is resumable: it checkpoints `--checkpoints` times (atomically, `ResumableTrainer`) and a rerun resumes a
cut-short cell from its last checkpoint and skips finished ones (`cells/<cell>.json`). A finished cell whose command
differs from the one the study would run now (a changed recipe or budget) is refused with an error that names it.
Writes `results.csv`, `results.md` (top-1 mean ± std over seeds; the gap of each biased transformer over the unbiased
control, IsoTransformer; the PRS table), `data_efficiency.png` (log axis of training images, one line per recipe,
error bars over seeds), `command.txt` and `environment.json`. `--summarise_only` rewrites them from the stored cells.
Arguments after `--` go to every cell (any option of `inductive-zoo train`).
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
from ..models.registry import MANIFESTS_BY_MODEL_TYPE
from ..training.atomic_writes import write_json_atomic
from ..training.image_classification import parse_args, run
from ..training.recipes import get_recipe
from .plotting import figure_grid, save_figure
from .study_outputs import comma_list, markdown_table, mean_and_spread, record_run, stored_cells, write_csv

DEFAULT_RECIPES = (
    "cifar10-10pct-fast-prs-vit", "cifar10-10pct-fast-convit", "cifar10-10pct-fast-ibit",
    "cifar10-10pct-fast-iso-transformer", "cifar10-10pct-fast-iso-convnet", "cifar10-10pct-fast-convnet",
    "cifar10-10pct-fast-resnet18", "cifar10-10pct-vit",
)  # fmt: skip
DEFAULT_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# The unbiased control the biased transformers are compared with, and those compared.
CONTROL_MODEL_TYPE = "iso_transformer"
BIASED_TRANSFORMERS = ("prs_vit", "convit", "ibit")
# The fraction a recipe's own budget is counted at: the catalogue's rows train on 10 % of the training split.
RECIPE_FRACTION = 0.1


@dataclass(frozen=True)
class Cell:
    """One training run of the study: a recipe on a fraction of the training data with a seed, and for PRS-ViT's
    schedule cells the share of epochs spent as convolutions (`None`: the recipe's own share)."""

    recipe: str
    fraction: float
    seed: int
    conv_share: float | None = None

    @property
    def name(self) -> str:
        share = "" if self.conv_share is None else f"-c{self.conv_share:g}"
        return f"{self.recipe}-f{self.fraction:g}-s{self.seed}{share}"


def subset_size(label_counts: Counter, fraction: float) -> int:
    """The number of training images `class_balanced_subset` selects: `max(1, round(fraction * n_c))` per class."""
    if fraction == 1.0:
        return sum(label_counts.values())
    return sum(max(1, round(fraction * count)) for count in label_counts.values())


def images_seen(recipe_name: str, args: argparse.Namespace, label_counts: Counter) -> int:
    """The training images every cell of the recipe sees: `--images_seen`, or the recipe's epochs on its 10 % row."""
    if args.images_seen is not None:
        return args.images_seen
    return get_recipe(recipe_name).epochs * subset_size(label_counts, RECIPE_FRACTION)


def recipe_conv_share(recipe_name: str) -> float:
    """The share of a PRS-ViT recipe's epochs spent as convolutions (`conv_epochs / num_train_epochs`)."""
    recipe = get_recipe(recipe_name)
    return recipe.arguments["conv_epochs"] / recipe.epochs


def cell_arguments(cell: Cell, args: argparse.Namespace, label_counts: Counter) -> list[str]:
    """The command line of one cell (without the output directory)."""
    recipe = get_recipe(cell.recipe)
    batch_size = int(recipe.arguments["per_device_train_batch_size"])
    steps = math.ceil(images_seen(cell.recipe, args, label_counts) / batch_size)
    arguments = [
        "--recipe", cell.recipe, "--dataset", args.dataset,
        "--train_fraction", f"{cell.fraction:g}", "--subset_seed", str(cell.seed), "--seed", str(cell.seed),
        "--max_steps", str(steps), "--eval_strategy", "no",
        "--save_strategy", "steps", "--save_steps", str(max(1, steps // args.checkpoints)), "--save_total_limit", "1",
    ]  # fmt: skip
    if args.max_eval_samples is not None:
        arguments += ["--max_eval_samples", str(args.max_eval_samples)]
    if "schedule" in recipe.arguments:
        share = cell.conv_share if cell.conv_share is not None else recipe_conv_share(cell.recipe)
        epochs = math.ceil(steps / math.ceil(subset_size(label_counts, cell.fraction) / batch_size))
        arguments += ["--conv_epochs", str(round(share * epochs))]
    return arguments + args.extra


def train_cell(cell: Cell, arguments: list[str], run_dir: Path) -> dict[str, Any]:
    """Trains (or resumes) and evaluates one cell; returns what its stored JSON holds."""
    _, metrics = run(*parse_args([*arguments, "--output_dir", str(run_dir), "--resume_from_checkpoint", "auto"]))
    return {
        "top1": metrics["eval_accuracy"],
        "top1_tta": metrics.get("eval_tta_accuracy"),
        "top5": metrics.get("eval_top5_accuracy"),
        "epochs": metrics.get("epoch"),
        "train_runtime_s": metrics.get("train_runtime"),
    }


def study_cells(args: argparse.Namespace) -> list[Cell]:
    """Every cell the arguments ask for: each recipe at each fraction with the fraction's seeds (`--spread_seeds` at
    fractions up to `--spread_up_to`, `--seeds` elsewhere), and PRS-ViT's schedule cells."""
    cells = []
    for recipe in args.recipes:
        has_schedule = "schedule" in get_recipe(recipe).arguments
        for fraction in args.fractions:
            seeds = args.spread_seeds if fraction <= args.spread_up_to else args.seeds
            cells += [Cell(recipe, fraction, seed) for seed in seeds]
            if has_schedule and fraction in args.prs_fractions:
                cells += [Cell(recipe, fraction, seed, share) for share in args.prs_conv_fractions for seed in seeds]
    return cells


def run_cells(cells: list[Cell], args: argparse.Namespace, output_dir: Path) -> list[dict[str, Any]]:
    """Trains every cell not stored yet (storing it atomically when done) and returns all cells' records; refuses a
    stored cell whose command differs from the one it would be trained with now."""
    data = load_image_dataset(args.dataset)
    label_counts = Counter(data.splits["train"][data.label_column])
    records = []
    for cell in cells:
        path = output_dir / "cells" / f"{cell.name}.json"
        arguments = cell_arguments(cell, args, label_counts)
        if path.exists():
            stored = json.loads(path.read_text())
            if stored["arguments"] != arguments:
                raise ValueError(
                    f"cell {cell.name} in {output_dir} was trained with {stored['arguments']}, not {arguments} "
                    "(a changed recipe, budget or option); choose another --output_dir"
                )
        else:
            record = {
                "recipe": cell.recipe,
                "model_type": get_recipe(cell.recipe).model_type,
                "fraction": cell.fraction,
                "seed": cell.seed,
                "conv_share": cell.conv_share,
                "train_images": subset_size(label_counts, cell.fraction),
                "images_seen": images_seen(cell.recipe, args, label_counts),
                **train_cell(cell, arguments, output_dir / "runs" / cell.name),
                "arguments": arguments,
            }
            write_json_atomic(path, record)
        records.append(json.loads(path.read_text()))
    return records


def model_name(model_type: str) -> str:
    """A variant's display name, or the transformers model type of a baseline."""
    manifest = MANIFESTS_BY_MODEL_TYPE.get(model_type)
    return manifest.display_name if manifest is not None else f"transformers {model_type}"


def summarise(records: list[dict[str, Any]], output_dir: Path) -> str:
    """Writes `results.csv`, `results.md` and `data_efficiency.png` from the cells' records; returns the Markdown."""
    columns = [
        "recipe", "model_type", "fraction", "seed", "conv_share", "train_images", "images_seen", "epochs",
        "top1", "top1_tta", "top5", "train_runtime_s",
    ]  # fmt: skip
    write_csv(output_dir / "results.csv", records, columns)
    curve = [record for record in records if record["conv_share"] is None]
    recipes = list(dict.fromkeys(record["recipe"] for record in curve))
    fractions = sorted({record["fraction"] for record in curve})
    images = {record["fraction"]: record["train_images"] for record in records}
    top1: dict[tuple[str, float], list[float]] = {}
    for record in curve:
        top1.setdefault((record["recipe"], record["fraction"]), []).append(record["top1"])
    model_type = {record["recipe"]: record["model_type"] for record in records}

    header = ["model (recipe)", *(f"{images[fraction]} ({fraction:g})" for fraction in fractions)]
    rows = [
        [f"{model_name(model_type[recipe])} (`{recipe}`)"]
        + [mean_and_spread(top1[recipe, fraction]) if (recipe, fraction) in top1 else "-" for fraction in fractions]
        for recipe in recipes
    ]
    markdown = (
        "Top-1 on the evaluation split against the number of training images (fraction of the training split); "
        "mean ± sample standard deviation over seeds (n) where seeded.\n\n" + markdown_table(header, rows)
    )
    controls = [recipe for recipe in recipes if model_type[recipe] == CONTROL_MODEL_TYPE]
    biased = [recipe for recipe in recipes if model_type[recipe] in BIASED_TRANSFORMERS]
    if controls and biased:
        control = controls[0]
        gap_rows = [
            [f"{model_name(model_type[recipe])} - IsoTransformer"]
            + [
                f"{statistics.mean(top1[recipe, f]) - statistics.mean(top1[control, f]):+.4f}"
                if (recipe, f) in top1 and (control, f) in top1
                else "-"
                for f in fractions
            ]
            for recipe in biased
        ]
        markdown += "\nThe biased transformers' lead over the unbiased control (means):\n\n"
        markdown += markdown_table(header, gap_rows)
    schedule_records = [record for record in records if record["conv_share"] is not None]
    if schedule_records:
        markdown += "\n" + prs_table(records)
    (output_dir / "results.md").write_text(markdown)
    plot_curve(top1, recipes, model_type, images, output_dir / "data_efficiency.png")
    return markdown


def prs_table(records: list[dict[str, Any]]) -> str:
    """PRS-ViT's top-1 per share of convolution epochs at the fractions that have schedule cells (the recipe's own
    share from the curve's cells)."""
    prs = [record for record in records if record["model_type"] == "prs_vit"]
    fractions = sorted({record["fraction"] for record in prs if record["conv_share"] is not None})
    by_share: dict[tuple[float, float], list[float]] = {}
    for record in prs:
        if record["fraction"] in fractions:
            share = record["conv_share"] if record["conv_share"] is not None else recipe_conv_share(record["recipe"])
            by_share.setdefault((share, record["fraction"]), []).append(record["top1"])
    shares = sorted({share for share, _ in by_share})
    header = ["convolution share of the epochs", *(f"{fraction:g}" for fraction in fractions)]
    rows = [
        [f"{share:g}", *(mean_and_spread(by_share[share, f]) if (share, f) in by_share else "-" for f in fractions)]
        for share in shares
    ]
    return "PRS-ViT by the share of its epochs spent as convolutions (top-1):\n\n" + markdown_table(header, rows)


def plot_curve(
    top1: dict[tuple[str, float], list[float]],
    recipes: list[str],
    model_type: dict[str, str],
    images: dict[float, int],
    path: Path,
) -> None:
    """Top-1 against training images on a log axis, one line per recipe with error bars over seeds, the legend
    outside the axes."""
    figure, axes = figure_grid(1, 1, panel_inches=(8.0, 4.5))
    axis = axes[0][0]
    for recipe in recipes:
        present = sorted(fraction for r, fraction in top1 if r == recipe)
        means = [statistics.mean(top1[recipe, f]) for f in present]
        spreads = [statistics.stdev(top1[recipe, f]) if len(top1[recipe, f]) > 1 else 0.0 for f in present]
        axis.errorbar([images[f] for f in present], means, yerr=spreads, marker="o", capsize=3,
                      label=model_name(model_type[recipe]))  # fmt: skip
    axis.set_xscale("log")
    axis.set_xlabel("training images (log scale)")
    axis.set_ylabel("top-1 on the test split")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    save_figure(figure, path)


def parse_study_args(argv: list[str]) -> argparse.Namespace:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="uoft-cs/cifar10")
    parser.add_argument("--recipes", type=comma_list(str), default=list(DEFAULT_RECIPES))
    parser.add_argument("--fractions", type=comma_list(float), default=list(DEFAULT_FRACTIONS))
    parser.add_argument("--seeds", type=comma_list(int), default=[0], help="seeds of the larger fractions")
    parser.add_argument("--spread_seeds", type=comma_list(int), default=[0, 1], help="seeds of the small fractions")
    parser.add_argument("--spread_up_to", type=float, default=0.05, help="the largest fraction given spread_seeds")
    parser.add_argument("--prs_conv_fractions", type=comma_list(float), default=[], help="PRS-ViT schedule cells")
    parser.add_argument("--prs_fractions", type=comma_list(float), default=[0.02, 0.5])
    parser.add_argument("--images_seen", type=int, default=None, help="training images per cell (default: the "
                        "recipe's epochs x its 10 %% subset)")  # fmt: skip
    parser.add_argument("--checkpoints", type=int, default=10, help="checkpoints per cell (resume points)")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="evaluate on the first N images only")
    parser.add_argument("--summarise_only", action="store_true", help="rewrite the tables from the stored cells")
    parser.add_argument("--output_dir", default="outputs/study-data-efficiency")
    args = parser.parse_args(argv)
    for recipe in args.recipes:
        try:
            get_recipe(recipe)
        except ValueError as error:
            parser.error(str(error))
    if args.checkpoints < 1:
        parser.error(f"--checkpoints must be at least 1, got {args.checkpoints}")
    args.extra = extra
    return args


def main(argv: list[str] | None = None) -> str:
    """Command-line entry point: `inductive-zoo study data-efficiency ...`; returns the Markdown tables."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_study_args(argv)
    output_dir = Path(args.output_dir)
    if args.summarise_only:
        records = stored_cells(output_dir, "data-efficiency")
    else:
        record_run(output_dir, "data-efficiency", argv)
        records = run_cells(study_cells(args), args, output_dir)
    markdown = summarise(records, output_dir)
    print(markdown)
    return markdown
