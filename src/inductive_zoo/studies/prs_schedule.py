"""PRS's schedule study (Lee et al. 2022): how long each layer stays a convolution, and in which order layers switch,
on the zoo's PRS-ViT recipe.

    inductive-zoo study prs-schedule --dataset ../shared/datasets/cifar10 --output_dir outputs/study-prs-schedule \
        --baseline IsoConvNet=outputs/zoo/cifar10-10pct-iso-convnet-s0 \
        --baseline ConViT=outputs/zoo/cifar10-10pct-convit-s0 \
        --baseline IsoTransformer=outputs/zoo/cifar10-10pct-iso-transformer-s0

With `T` the recipe's epochs (`--recipe`, default `cifar10-10pct-prs-vit`; arguments after `--` override it, e.g.
`-- --num_train_epochs 8`), the cells are: `linear` at E = 0 (every layer switches at epoch 0: the same run as
`immediate` and `uniform` at E = 0, trained once), T/4 and T/2; `uniform` at E = T/4; `never` (a convnet throughout).
`linear` and `uniform` at E = T/4 run with every `--seeds` seed, the others with the first. Each cell is the recipe's
run (`inductive-zoo train --recipe ... --schedule S --conv_epochs E --seed s`) in `runs/<cell>/`, resumed from its
last checkpoint when the study is run again; a finished cell is stored as `cells/<cell>.json` (written atomically)
and skipped. `--cells` trains only the named cells (to split the study between processes); the tables are written
once every cell has finished.

Per cell: top-1 and top-5 on the whole evaluation split, the Fourier high-frequency value of every
block (`studies.fourier`, on the first `--num_images` evaluation images) and `PRSCallback`'s per-epoch diagnostics
of the switched blocks (content-attention weight, attention mass outside the 3x3 neighbourhood, mean attention
distance). `--baseline LABEL=DIR` adds finished recipe runs (ConViT, IsoTransformer, IsoConvNet of the zoo table) to
the Fourier comparison. Writes `results.md`, `results.csv`, `diagnostics.csv`, `fourier_depth.png`,
`diagnostics.png`, `command.txt` and `environment.json`.

`results.md` also states, from those numbers, the paper's two claims and the attention target:
- claim 1: does each reparameterizable block's high-frequency value move monotonically with E (linear, E = 0, T/4,
  T/2; seed means), towards the convnet's as E grows and between the IsoConvNet and IsoTransformer baselines (found
  by their `model_type`)?
- claim 2: does `linear` at E = T/4 beat `uniform` at E = T/4, `immediate` (linear at E = 0) and `never` by more
  than the seed spread (the larger of the two groups' standard deviations)?
- attention after the switch: the mass outside the 3x3 neighbourhood at the end of training, per block and cell,
  against the target of more than 5 % for every block switched at least T/4 epochs before the end;
- and how many heads of each switched block end with a negative content weight (the diagnostics' content weight is
  a mean over heads, which can move both ways), read from each cell's saved model.
"""

import argparse
import itertools
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..training.atomic_writes import write_json_atomic
from ..training.image_classification import parse_args, run
from ..training.prs_switches import content_weights, prs_switch_epochs
from .fourier import analyse
from .inputs import image_batch, load_model, parse_labelled
from .plotting import depth_colours, figure_grid, save_figure
from .study_outputs import comma_list, markdown_table, mean_and_spread, record_run, write_csv

DEFAULT_RECIPE = "cifar10-10pct-prs-vit"
DIAGNOSTICS = ("content_weight", "mass_outside_3x3", "attention_distance")
MASS_TARGET = 0.05  # attention mass outside 3x3 at the end of training, for blocks switched >= T/4 epochs before it


@dataclass(frozen=True)
class ScheduleCell:
    """One training run of the study: a PRS schedule, its convolution epochs `E` and a seed."""

    schedule: str
    conv_epochs: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.schedule}-E{self.conv_epochs}-s{self.seed}"

    @property
    def label(self) -> str:
        return "never (convnet)" if self.schedule == "never" else f"{self.schedule} E={self.conv_epochs}"


def schedule_cells(epochs: int, seeds: list[int]) -> list[ScheduleCell]:
    """The study's cells for a recipe of `epochs` epochs (see the module docstring)."""
    quarter, half = round(epochs / 4), round(epochs / 2)
    cells = [ScheduleCell("linear", 0, seeds[0])]
    cells += [ScheduleCell("linear", quarter, seed) for seed in seeds]
    cells += [ScheduleCell("linear", half, seeds[0])]
    cells += [ScheduleCell("uniform", quarter, seed) for seed in seeds]
    cells += [ScheduleCell("never", 0, seeds[0])]
    return cells


def cell_arguments(cell: ScheduleCell, args: argparse.Namespace, run_dir: Path) -> list[str]:
    return [
        "--recipe", args.recipe, "--dataset", args.dataset, "--output_dir", str(run_dir),
        *args.extra,
        "--schedule", cell.schedule, "--conv_epochs", str(cell.conv_epochs), "--seed", str(cell.seed),
        "--resume_from_checkpoint", "auto",
    ]  # fmt: skip


def diagnostics_history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`PRSCallback`'s entries as rows `{epoch, layer, content_weight, mass_outside_3x3, attention_distance}`."""
    rows = []
    for entry in log_history:
        layers = sorted(int(key.rsplit("_", 1)[1]) for key in entry if key.startswith("prs_content_weight_"))
        for layer in layers:
            row = {"epoch": entry["epoch"], "layer": layer}
            row.update({name: entry[f"prs_{name}_{layer}"] for name in DIAGNOSTICS})
            rows.append(row)
    return rows


def train_cell(cell: ScheduleCell, args: argparse.Namespace, output_dir: Path) -> dict[str, Any]:
    """Trains (or resumes) one cell with the recipe and measures it; returns what its stored JSON holds."""
    run_dir = output_dir / "runs" / cell.name
    trainer, metrics = run(*parse_args(cell_arguments(cell, args, run_dir)))
    model = load_model(str(run_dir))
    pixel_values = image_batch(args.dataset, args.num_images, model.config.image_size)[1]
    fourier = analyse(cell.label, model, pixel_values)
    return {
        "schedule": cell.schedule,
        "conv_epochs": cell.conv_epochs,
        "seed": cell.seed,
        "label": cell.label,
        "top1": metrics["eval_accuracy"],
        "top5": metrics["eval_top5_accuracy"],
        "high_frequency": fourier.high_frequency,
        "reparameterizable_layers": model.config.num_reparameterizable_layers,
        "diagnostics": diagnostics_history(trainer.state.log_history),
    }


def baseline_record(label: str, directory: str, args: argparse.Namespace) -> dict[str, Any]:
    """A finished recipe run given by `--baseline`: its top-1 and Fourier high-frequency values."""
    metrics = json.loads((Path(directory) / "all_results.json").read_text())
    model = load_model(directory)
    pixel_values = image_batch(args.dataset, args.num_images, model.config.image_size)[1]
    return {
        "label": label,
        "model_type": model.config.model_type,
        "top1": metrics["eval_accuracy"],
        "high_frequency": analyse(label, model, pixel_values).high_frequency,
    }


def negative_content_heads(run_dir: Path) -> list[list[int] | None]:
    """Per reparameterizable block of a cell's saved model: `[heads with a negative content weight, heads]`, `None`
    for a block still a convolution (`training.prs_switches.content_weights`; `PRSCallback` logs only their mean)."""
    return [
        None if weight is None else [int((weight < 0).sum()), weight.numel()]
        for weight in content_weights(load_model(str(run_dir)))
    ]


def negative_heads_table(records: list[dict[str, Any]]) -> str:
    """Each switched cell's `negative_content_heads` at the end of training, per block (`k/H`)."""
    layers = max(r["reparameterizable_layers"] for r in records)
    header = ["cell", "seed", *(f"block {layer + 1}" for layer in range(layers))]
    rows = [
        [record["label"], str(record["seed"]), *(f"{c[0]}/{c[1]}" if c else "-" for c in record["negative_heads"])]
        for record in records
        if any(record["negative_heads"])
    ]
    return markdown_table(header, rows)


def cell_records(records: list[dict[str, Any]], schedule: str, conv_epochs: int) -> list[dict[str, Any]]:
    """The records of one schedule and E, every seed."""
    return [r for r in records if r["schedule"] == schedule and r["conv_epochs"] == conv_epochs]


def top1_of(records: list[dict[str, Any]], schedule: str, conv_epochs: int) -> list[float]:
    return [r["top1"] for r in cell_records(records, schedule, conv_epochs)]


def fourier_claim(records: list[dict[str, Any]], baselines: list[dict[str, Any]], epochs: int) -> str:
    """Claim 1 as a table: per reparameterizable block, the seed-mean high-frequency value of `linear` at E = 0, T/4
    and T/2, and whether the three move monotonically; where the study has them, `never` (the same network kept a
    convnet) and whether E moves the block towards it, and the baselines with whether E moves the block towards the
    IsoConvNet and keeps it between the IsoConvNet and the IsoTransformer."""
    conv_epochs = (0, round(epochs / 4), round(epochs / 2))

    def seed_mean_curve(schedule: str, conv: int) -> list[float]:
        group = [r["high_frequency"] for r in cell_records(records, schedule, conv)]
        return [statistics.mean(values) for values in zip(*group, strict=True)]

    curves = [seed_mean_curve("linear", conv) for conv in conv_epochs]
    never = seed_mean_curve("never", 0) if cell_records(records, "never", 0) else None
    references = {b["model_type"]: b["high_frequency"] for b in baselines}
    convnet, transformer = references.get("iso_convnet"), references.get("iso_transformer")
    header = ["block", *(f"linear E={conv}" for conv in conv_epochs), "monotone in E"]
    if never:
        header += ["never", "towards never as E grows"]
    if convnet and transformer:
        header += ["IsoConvNet", "IsoTransformer", "towards the convnet as E grows", "between the two"]
    rows = []
    for block in range(1, max(r["reparameterizable_layers"] for r in records) + 1):
        values = [curve[block] for curve in curves]
        steps = [later - earlier for earlier, later in itertools.pairwise(values)]
        monotone = all(step > 0 for step in steps) or all(step < 0 for step in steps)
        row = [str(block), *(f"{value:.3f}" for value in values), "yes" if monotone else "no"]
        if never:
            row += [
                f"{never[block]:.3f}",
                "yes" if abs(values[-1] - never[block]) < abs(values[0] - never[block]) else "no",
            ]
        if convnet and transformer:
            low, high = sorted((convnet[block], transformer[block]))
            towards = (values[-1] - values[0]) * (convnet[block] - transformer[block]) > 0
            between = all(low <= value <= high for value in values)
            row += [f"{convnet[block]:.3f}", f"{transformer[block]:.3f}", "yes" if towards else "no"]
            row += ["yes" if between else "no"]
        rows.append(row)
    return markdown_table(header, rows)


def schedule_claim(records: list[dict[str, Any]], epochs: int) -> str:
    """Claim 2 as a list: `linear` at E = T/4 against `uniform` at E = T/4, `immediate` and `never`, with the verdict
    "by more than the spread" only where a group has seeds (spread: the larger standard deviation of the two)."""
    quarter = round(epochs / 4)
    linear = top1_of(records, "linear", quarter)
    others = [
        (f"uniform E={quarter}", top1_of(records, "uniform", quarter)),
        ("immediate (linear E=0)", top1_of(records, "linear", 0)),
        ("never (convnet)", top1_of(records, "never", 0)),
    ]
    lines = []
    for label, other in others:
        difference = statistics.mean(linear) - statistics.mean(other)
        spreads = [statistics.stdev(group) for group in (linear, other) if len(group) > 1]
        if not spreads:
            verdict = "one seed each, so no spread to judge it by"
        elif abs(difference) <= max(spreads):
            verdict = f"within the seed spread ({max(spreads):.4f})"
        else:
            winner = "linear beats it" if difference > 0 else "it beats linear"
            verdict = f"{winner} by more than the seed spread ({max(spreads):.4f})"
        lines.append(
            f"- linear E={quarter} {mean_and_spread(linear)} vs {label} {mean_and_spread(other)}: "
            f"{difference:+.4f}, {verdict}."
        )
    return "\n".join(lines)


def mass_target(records: list[dict[str, Any]], epochs: int) -> str:
    """The attention target as a table: each switched cell's mass outside 3x3 at the end of training, per block, and
    whether every block switched at least T/4 epochs before the end holds more than `MASS_TARGET`."""
    layers = max(r["reparameterizable_layers"] for r in records)
    header = ["cell", "seed", *(f"block {layer + 1}" for layer in range(layers)), f"> {MASS_TARGET:.0%} target"]
    rows = []
    for record in records:
        final = {row["layer"]: row["mass_outside_3x3"] for row in record["diagnostics"]}  # rows run in epoch order
        if not final:
            continue
        switches = prs_switch_epochs(record["schedule"], record["conv_epochs"], record["reparameterizable_layers"])
        due = [layer for layer, epoch in enumerate(switches) if epoch is not None and epochs - epoch >= epochs / 4]
        failing = [str(layer + 1) for layer in due if final.get(layer, 0.0) <= MASS_TARGET]
        masses = [f"{final[layer]:.3f}" if layer in final else "-" for layer in range(layers)]
        verdict = "met" if not failing else f"not met: block {', '.join(failing)}"
        rows.append([record["label"], str(record["seed"]), *masses, verdict])
    return markdown_table(header, rows)


def summarise(records: list[dict[str, Any]], baselines: list[dict[str, Any]], output_dir: Path, epochs: int) -> str:
    """Writes the tables and plots; returns the Markdown."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["label"], []).append(record)
    depth = max(len(record["high_frequency"]) for record in [*records, *baselines])
    header = ["model", "top-1 (mean ± sd, n seeds)", *(f"HF block {index}" for index in range(1, depth))]
    rows = []
    for label, group in groups.items():
        blocks = zip(*(record["high_frequency"][1:] for record in group), strict=True)
        rows.append(
            [label, mean_and_spread([r["top1"] for r in group]), *(f"{statistics.mean(b):.3f}" for b in blocks)]
        )
    for baseline in baselines:
        blocks = [f"{value:.3f}" for value in baseline["high_frequency"][1:]]
        rows.append([f"{baseline['label']} (baseline)", f"{baseline['top1']:.4f}", *blocks])
    rows = [row + [""] * (len(header) - len(row)) for row in rows]
    sections = [
        f"PRS-ViT schedules on the recipe's {epochs} epochs: top-1 on the whole evaluation split, and the Fourier "
        "high-frequency value (relative log amplitude at pi, mean over seeds) of every block's output.",
        markdown_table(header, rows),
        "Claim 1, the Fourier pattern moves with the convolution epochs E (seed means):",
        fourier_claim(records, baselines, epochs),
        "Claim 2, the linear schedule at small data (top-1, mean ± sd over seeds):",
        schedule_claim(records, epochs),
        "Attention mass outside the 3x3 neighbourhood at the end of training (every block switched at least T/4 "
        f"epochs before the end should exceed {MASS_TARGET:.0%}):",
        mass_target(records, epochs),
        "Heads with a negative content weight at the end of training (of the block's heads; from each cell's saved "
        "model):",
        negative_heads_table(records),
    ]
    markdown = "\n\n".join(section.strip() for section in sections) + "\n"
    (output_dir / "results.md").write_text(markdown)
    columns = ["schedule", "conv_epochs", "seed", "top1", "top5"]
    write_csv(output_dir / "results.csv", records, columns)
    diagnostic_rows = [{"cell": r["label"], "seed": r["seed"], **row} for r in records for row in r["diagnostics"]]
    if diagnostic_rows:
        write_csv(output_dir / "diagnostics.csv", diagnostic_rows, list(diagnostic_rows[0]))

    figure, axes = figure_grid(1, 1, panel_inches=(5.5, 3.8))
    for label, group in groups.items():
        curves = list(zip(*(record["high_frequency"] for record in group), strict=True))
        axes[0][0].plot(range(len(curves)), [statistics.mean(point) for point in curves], marker="o", label=label)
    for baseline in baselines:
        hf = baseline["high_frequency"]
        axes[0][0].plot(range(len(hf)), hf, linestyle="--", marker="s", label=baseline["label"])
    axes[0][0].set_xlabel("hidden state (0: embedding)")
    axes[0][0].set_ylabel("relative log amplitude at pi")
    axes[0][0].legend(fontsize="x-small")
    save_figure(figure, output_dir / "fourier_depth.png")

    first_seed = [group[0] for group in groups.values() if group[0]["diagnostics"]]
    if first_seed:
        figure, axes = figure_grid(1, len(first_seed), panel_inches=(3.4, 3.0))
        for axis, record in zip(axes[0], first_seed, strict=True):
            colours = depth_colours(record["reparameterizable_layers"])
            for layer in range(record["reparameterizable_layers"]):
                points = [row for row in record["diagnostics"] if row["layer"] == layer]
                if points:
                    epochs_seen = [row["epoch"] for row in points]
                    axis.plot(epochs_seen, [row["mass_outside_3x3"] for row in points], color=colours[layer],
                              label=f"block {layer + 1}")  # fmt: skip
            axis.set_title(record["label"], fontsize="small")
            axis.set_xlabel("epoch")
            axis.set_ylabel("attention mass outside 3x3")
            axis.legend(fontsize="xx-small")
        save_figure(figure, output_dir / "diagnostics.png")
    return markdown


def parse_study_args(argv: list[str]) -> argparse.Namespace:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="uoft-cs/cifar10")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, help="the PRS-ViT recipe of the catalogue to run")
    parser.add_argument("--seeds", type=comma_list(int), default=[0, 1, 2])
    parser.add_argument("--num_images", type=int, default=64, help="evaluation images of the Fourier analysis")
    parser.add_argument("--baseline", action="append", default=[], help="LABEL=DIR of a finished recipe run")
    parser.add_argument("--output_dir", default="outputs/study-prs-schedule")
    parser.add_argument(
        "--cells",
        type=comma_list(str),
        default=None,
        help="train only these cells (names such as linear-E12-s1; default all), e.g. to split the study between "
        "processes; the tables are written once every cell has finished",
    )
    args = parser.parse_args(argv)
    args.extra = extra
    return args


def main(argv: list[str] | None = None) -> str:
    """Command-line entry point: `inductive-zoo study prs-schedule ...`; returns the Markdown table."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_study_args(argv)
    output_dir = Path(args.output_dir)
    _, _, training_args = parse_args(["--recipe", args.recipe, "--output_dir", str(output_dir), *args.extra])
    epochs = round(training_args.num_train_epochs)
    cells = schedule_cells(epochs, args.seeds)
    unknown = sorted(set(args.cells or []) - {cell.name for cell in cells})
    if unknown:
        raise ValueError(f"--cells {unknown} are not cells of this study: {[cell.name for cell in cells]}")
    if args.cells is None:  # the study's command, not one process's share of it
        record_run(output_dir, "prs-schedule", argv)
    records, missing = [], []
    for cell in cells:
        path = output_dir / "cells" / f"{cell.name}.json"
        if not path.exists() and (args.cells is None or cell.name in args.cells):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, train_cell(cell, args, output_dir))
        if path.exists():
            records.append(json.loads(path.read_text()))
        else:
            missing.append(cell.name)
    if missing:
        message = f"{len(records)} of {len(cells)} cells finished; still to train: {', '.join(missing)}"
        print(message)
        return message
    # Every cell finished: read the heads' signs from the saved models (as the baselines are measured, below).
    records = [
        {**record, "negative_heads": negative_content_heads(output_dir / "runs" / cell.name)}
        for cell, record in zip(cells, records, strict=True)
    ]
    baselines = [baseline_record(label, directory, args) for label, directory in map(parse_labelled, args.baseline)]
    markdown = summarise(records, baselines, output_dir, epochs)
    print(markdown)
    return markdown
