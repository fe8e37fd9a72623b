"""The zoo table: every finished run of the recipe catalogue, with its measured accuracy, cost and checkpoint, as
Markdown for README.md and `training/RESULTS.md`, and accuracy against training time as a plot.

    inductive-zoo study zoo-table --runs outputs/zoo --zoo zoo --output training/results/zoo.md \\
        --plot training/results/zoo_accuracy_vs_time.png

A run is a directory of `--runs` (one or more directories) written by `inductive-zoo train --recipe NAME ...
--output_dir RUNS/NAME-sSEED`: its `all_results.json` (the final evaluation, on the whole evaluation split),
`training_summary.json` (recipe, data, training time, hardware) and `trainer_state.json` (per-epoch evaluations on the
2,000-image slice, with wall time). Runs of one recipe and execution mode (precision, compilation) with several seeds
become one row: mean and sample standard deviation. A second table gives the training wall time each recipe needed to
first reach 45 %, 55 % and 60 % on the per-epoch slice. Only what the runs recorded is reported; nothing is filled in.
"""

import argparse
import json
import logging
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import ModelCard
from safetensors import safe_open

from ..training.recipes import RECIPES
from ..training.records import PRETRAINING_RESULTS_FILE, training_mode
from .plotting import figure_grid, save_figure
from .study_outputs import mean_and_spread

logger = logging.getLogger(__name__)

# Arguments of a run's command that the tables show in columns of their own or that do not change the run.
COMMON_ARGUMENTS = ("--recipe", "--dataset", "--output_dir", "--seed")


def extra_arguments(arguments: list[str]) -> tuple[str, ...]:
    """The arguments of an `inductive-zoo train` command beyond `COMMON_ARGUMENTS` and their values: how the run
    departed from its recipe (`--num_train_epochs 100`, ...)."""
    extra, index = [], 0
    while index < len(arguments):
        name = arguments[index].partition("=")[0]
        if name in COMMON_ARGUMENTS:
            index += 1 if "=" in arguments[index] else 2
            continue
        extra.append(arguments[index])
        index += 1
    return tuple(extra)


@dataclass(frozen=True)
class ZooRun:
    """One finished run: its recipe, seed, final top-1/top-5 on the evaluation split (and top-1 with test-time
    augmentation, where the run measured it), training time, hardware and
    execution mode (precision, compilation), number of parameters, its per-epoch `(wall_time_s, accuracy)` curve
    on the evaluation slice, the arguments it was given beyond its recipe, dataset and seed (`extra_arguments`
    of its recorded command), and the objective of the local pre-training run it was fine-tuned from, if any."""

    directory: Path
    recipe: str
    seed: int
    eval_split: str
    num_eval_examples: int
    top1: float
    top5: float | None
    training_time_s: float | None
    hardware: str | None
    mode: str
    parameters: int
    curve: list[tuple[float, float]]
    arguments: tuple[str, ...] = ()
    top1_tta: float | None = None
    epochs: float | None = None
    start_objective: str | None = None

    @property
    def recipe_cell(self) -> str:
        """The recipe's name, with the arguments the run was given beyond it."""
        return f"`{self.recipe}` with `{' '.join(self.arguments)}`" if self.arguments else f"`{self.recipe}`"


def count_parameters(weights: Path) -> int:
    """Number of values in a safetensors file."""
    with safe_open(weights, framework="pt") as handle:
        return sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())  # noqa: SIM118


def read_run(directory: Path) -> ZooRun | None:
    """The run in `directory`, or `None` if it has not finished (no final results) or has no recipe name."""
    results, summary_file = directory / "all_results.json", directory / "training_summary.json"
    if not results.is_file() or not summary_file.is_file():
        return None
    metrics, summary = json.loads(results.read_text()), json.loads(summary_file.read_text())
    if not summary.get("recipe_name") or "eval_accuracy" not in metrics:
        return None
    state_file = directory / "trainer_state.json"
    history = json.loads(state_file.read_text())["log_history"] if state_file.is_file() else []
    curve = [(e["wall_time_s"], e["eval_accuracy"]) for e in history if "eval_accuracy" in e and "wall_time_s" in e]
    return ZooRun(
        directory=directory,
        recipe=summary["recipe_name"],
        seed=int(summary["recipe"].get("seed", 0)),
        eval_split=summary["eval_split"],
        num_eval_examples=summary["num_eval_examples"],
        top1=metrics["eval_accuracy"],
        top5=metrics.get("eval_top5_accuracy"),
        training_time_s=summary.get("training_time_s"),
        hardware=summary.get("hardware"),
        mode=training_mode(summary["recipe"]),
        arguments=extra_arguments(summary.get("command") or []),
        epochs=summary["recipe"].get("num_train_epochs"),
        parameters=count_parameters(directory / "model.safetensors"),
        curve=curve,
        top1_tta=metrics.get("eval_tta_accuracy"),
        start_objective=start_objective(summary["recipe"].get("model_name_or_path")),
    )


def start_objective(start: str | None) -> str | None:
    """The objective of the pre-training run a run was fine-tuned from (`--model_name_or_path`), if that is a local
    `inductive-zoo pretrain` output that is still there; else `None`. Only the objective is read, so that a record
    written before `PretrainingRecord` had its later fields still names it."""
    if start is None or not (record := Path(start) / PRETRAINING_RESULTS_FILE).is_file():
        return None
    return json.loads(record.read_text()).get("objective")


def read_runs(*runs_dirs: Path) -> list[ZooRun]:
    """Every finished run under the `runs_dirs`, sorted by recipe (catalogue order) and seed. A copy of a run read
    already (the same recipe, seed, schedule, accuracy and training time) is left out, with a warning."""
    order = {name: index for index, name in enumerate(RECIPES)}
    paths = [path for runs_dir in runs_dirs for path in sorted(runs_dir.iterdir()) if path.is_dir()]
    runs: dict[tuple, ZooRun] = {}
    for path in paths:
        if (run := read_run(path)) is None:
            continue
        key = (run.recipe, run.seed, run.arguments, run.top1, run.training_time_s)
        if key in runs:
            logger.warning(f"{path}: a copy of {runs[key].directory}; left out")
            continue
        runs[key] = run
    return sorted(runs.values(), key=lambda run: (order.get(run.recipe, len(order)), run.recipe, run.seed))


RowKey = tuple[str, str, tuple[str, ...]]


def rows_of(runs: list[ZooRun]) -> dict[RowKey, list[ZooRun]]:
    """The runs grouped into table rows: one per recipe, execution mode and extra arguments (seeds pooled), so that
    runs whose mode, model, augmentation or length differ are shown apart."""
    rows: dict[RowKey, list[ZooRun]] = {}
    for run in runs:
        key = (run.recipe, run.mode, run.arguments)
        rows.setdefault(key, []).append(run)
    return rows


def zoo_table(runs: list[ZooRun], zoo_dir: Path | None = None) -> str:
    """The Markdown table: one row per recipe and mode (seeds pooled) with its checkpoint under `zoo_dir` when
    released."""
    lines = [
        "| recipe | variant | parameters | epochs | top-1 (test) | top-1 with TTA | top-5 | training time | hardware "
        "| mode | checkpoint |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, *_), group in rows_of(runs).items():
        recipe = RECIPES.get(name)
        variant = recipe.model_type if recipe else "?"
        epochs = f"{group[0].epochs:g}" if group[0].epochs is not None else (recipe.epochs if recipe else "?")
        times = [run.training_time_s for run in group if run.training_time_s is not None]
        time_text = f"{statistics.mean(times) / 60:.0f} min" if times else "not recorded"
        top5 = [run.top5 for run in group if run.top5 is not None]
        tta = [run.top1_tta for run in group if run.top1_tta is not None]
        released = zoo_dir / released_name(name, group[0].start_objective) if zoo_dir is not None else None
        checkpoint = checkpoint_cell(released, group, runs) if released is not None and released.is_dir() else "-"
        lines.append(
            f"| {group[0].recipe_cell} | {variant} | {group[0].parameters / 1e6:.2f} M | {epochs} | "
            f"{mean_and_spread([run.top1 for run in group])} | {mean_and_spread(tta) if tta else '-'} | "
            f"{mean_and_spread(top5) if top5 else '-'} | "
            f"{time_text} | {group[0].hardware or '?'} | {group[0].mode} | {checkpoint} |"
        )
    return "\n".join(lines) + "\n"


def released_top1(released: Path) -> float | None:
    """The top-1 accuracy a released checkpoint's card reports (its model-index), or `None` if it reports none."""
    card = ModelCard.load(released / "README.md")
    return next(
        (result.metric_value for result in card.data.eval_results or [] if result.metric_type == "accuracy"), None
    )


def checkpoint_cell(released: Path, group: list[ZooRun], runs: list[ZooRun]) -> str:
    """The checkpoint column: the released folder when its card reports the accuracy of one of the row's runs (the
    checkpoint reproduces the row); else the folder with its own accuracy and where it comes from: the run of another
    row of the table that it reproduces, or a run that the table does not hold (another recipe's, or earlier)."""
    top1 = released_top1(released)
    if top1 is None:
        return f"`{released.as_posix()}` (accuracy not reported)"
    if any(abs(run.top1 - top1) < 5e-5 for run in group):
        return f"`{released.as_posix()}`"
    source = next((run for run in runs if run.recipe == group[0].recipe and abs(run.top1 - top1) < 5e-5), None)
    if source is None:
        return f"`{released.as_posix()}` (released from a run this table does not hold: {top1:.4f})"
    return f"`{released.as_posix()}` (seed {source.seed} of the {source.mode} row {source.recipe_cell}: {top1:.4f})"


# Accuracy levels of the time-to-accuracy table, on the per-epoch 2,000-image test slice.
TIME_TO_ACCURACY_LEVELS = (0.45, 0.55, 0.60, 0.70)


def time_to_accuracy(curve: list[tuple[float, float]], level: float) -> float | None:
    """Wall time (s) of the first per-epoch evaluation at or above `level`; `None` if the run never reached it."""
    return next((time for time, accuracy in curve if accuracy >= level), None)


def time_to_accuracy_table(runs: list[ZooRun], levels: tuple[float, ...] = TIME_TO_ACCURACY_LEVELS) -> str:
    """The Markdown table of the training wall time each recipe needed to reach each accuracy level on the
    per-epoch evaluation slice, per recipe and mode (seeds pooled: the mean over the seeds that reached it, and how
    many did)."""
    header = " | ".join(f"time to {level:.0%}" for level in levels)
    lines = [f"| recipe | mode | {header} |", "|---|---|" + "---|" * len(levels)]
    for (_, mode, *_), group in rows_of([run for run in runs if run.curve]).items():
        cells = []
        for level in levels:
            reached = [time for run in group if (time := time_to_accuracy(run.curve, level)) is not None]
            if not reached:
                cells.append("not reached")
                continue
            seeds = f" ({len(reached)} of {len(group)} seeds)" if len(group) > 1 else ""
            cells.append(f"{statistics.mean(reached) / 60:.0f} min{seeds}")
        lines.append(f"| {group[0].recipe_cell} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def released_name(recipe: str, start_objective: str | None = None) -> str:
    """The folder of a recipe's released checkpoint under `zoo/`: `cifar10-10pct-prs-vit` -> `prs-vit-cifar10-10pct`;
    a `-fast` recipe's checkpoint replaces its variant's (`cifar10-10pct-fast-prs-vit` -> `prs-vit-cifar10-10pct`); a
    distilled or semi-supervised one sits beside it (`cifar10-10pct-distilled-prs-vit` ->
    `prs-vit-distilled-cifar10-10pct`), and so does a run fine-tuned from a local pre-training run by
    `start_objective` (`cifar10-10pct-fast-iso-transformer` from `mim` -> `iso-transformer-from-mim-cifar10-10pct`;
    a recipe that names its start, `cifar10-10pct-iso-convnet-from-mim`, keeps its name)."""
    for family in ("distilled", "semi-supervised"):
        if recipe.startswith(f"cifar10-10pct-{family}-"):
            return f"{recipe.removeprefix(f'cifar10-10pct-{family}-')}-{family}-cifar10-10pct"
    for family in ("cifar10-10pct-fast", "cifar10-10pct", "cifar10-full"):
        if recipe.startswith(family + "-"):
            variant = recipe[len(family) + 1 :]
            if start_objective is not None and "-from-" not in variant:
                variant = f"{variant}-from-{start_objective}"
            return f"{variant}-{family.replace('-full', '').replace('-fast', '')}"
    return recipe


def plot_accuracy_against_time(runs: list[ZooRun], path: Path) -> None:
    """Per-epoch accuracy on the evaluation slice against training wall time, one line per run, the legend outside
    the axes (on the right), so that no line is hidden under it."""
    figure, axes = figure_grid(1, 1, (11.0, 5.0))
    axis = axes[0][0]
    for run in runs:
        if run.curve:
            times, accuracies = zip(*run.curve, strict=True)
            details = [*run.arguments, *([] if run.mode == "fp32 eager" else [run.mode])]
            if run.hardware and "thread" in run.hardware:
                details.append(run.hardware.rpartition(", ")[2])  # "1 thread": beside another run
            label = f"{run.recipe} s{run.seed}" + (f" ({', '.join(details)})" if details else "")
            axis.plot([time / 60 for time in times], accuracies, label=label, linewidth=1.2)
    axis.set_xlabel("training wall time (minutes)")
    axis.set_ylabel("top-1 on the 2,000-image test slice")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> str:
    """Command-line entry point: prints the table and writes it (and the plot) where asked."""
    parser = argparse.ArgumentParser(prog="inductive-zoo study zoo-table", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=Path, nargs="+", default=[Path("outputs/zoo")], help="directories of the recipe runs"
    )
    parser.add_argument("--zoo", type=Path, default=Path("zoo"), help="directory of the released checkpoints")
    parser.add_argument("--output", type=Path, default=None, help="write the Markdown table here")
    parser.add_argument("--plot", type=Path, default=None, help="write the accuracy-against-time plot here")
    args = parser.parse_args(argv)
    missing = [str(directory) for directory in args.runs if not directory.is_dir()]
    if missing:
        raise SystemExit(f"inductive-zoo study zoo-table: no runs directory {', '.join(missing)}")
    runs = read_runs(*args.runs)
    table = zoo_table(runs, args.zoo) + "\n" + time_to_accuracy_table(runs)
    print(table)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table)
    if args.plot is not None:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot_accuracy_against_time(runs, args.plot)
    return table
