"""Transfer to images no zoo model has seen: each checkpoint's backbone fine-tuned on a small dataset, against the
same architecture trained from scratch by the same recipe (what a user who fine-tunes a released backbone on their own
images gets from it).

    inductive-zoo study transfer --checkpoints zoo/prs-vit-distilled-cifar10-10pct zoo/iso-convnet-cifar10-10pct \\
        --dataset digits --train_images 500 --output_dir outputs/study-transfer

Two cells per checkpoint and seed, which differ only in their starting weights: `pretrained` starts from the
checkpoint's backbone (a classifier's, or a self-supervised model's) with a fresh classifier for the dataset's labels,
`scratch` from a fresh model of the same config. The study writes both starts into `OUTPUT_DIR/starts/` (the
classifier drawn with the cell's seed, so both cells of a seed share it), then fine-tunes each with `inductive-zoo
train --model_name_or_path START` and `TRANSFER_RECIPE`, on a class-balanced, seeded subset of `--train_images`
training images (`--train_fraction`; scikit-learn's digits by default: 1,437 training and 360 test images, 32 x 32),
evaluated on the whole test split. Arguments after `--` go to every cell (any option of `inductive-zoo train`).

Every cell is resumable and stored once (`cells/<cell>.json`): a rerun skips finished cells, resumes a cut-short one,
and refuses a stored cell whose command differs from the one it would run now. Writes `results.csv`, `results.md` (top-1
from each start, mean ± std over seeds, and the difference) and the command and environment.
"""

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from ..data import load_image_dataset
from ..training.atomic_writes import write_json_atomic
from ..training.image_classification import parse_args, run
from .study_outputs import markdown_table, mean_and_spread, record_run, stored_cells, write_csv

# The short fine-tuning recipe of both starts: AdamW with a cosine decay, batch 64, no flips (digits are not
# mirror-symmetric), an epoch-end checkpoint to resume from, no evaluation until the end.
TRANSFER_RECIPE = (
    "--do_train", "--do_eval", "--num_train_epochs", "30", "--per_device_train_batch_size", "64",
    "--learning_rate", "5e-4", "--weight_decay", "0.05", "--lr_scheduler_type", "cosine", "--warmup_steps", "0.1",
    "--hflip_prob", "0", "--eval_strategy", "no", "--save_strategy", "epoch", "--save_total_limit", "1",
    "--logging_steps", "10", "--report_to", "none", "--dataloader_num_workers", "0",
)  # fmt: skip
STARTS = ("pretrained", "scratch")


def checkpoint_name(checkpoint: str) -> str:
    """A short, path-safe name of a checkpoint (its folder's or repository's last part)."""
    return checkpoint.rstrip("/").rsplit("/", 1)[-1]


def write_start(checkpoint: str, start: str, label_names: list[str], seed: int, directory: Path) -> None:
    """The starting weights of a cell, saved as a classifier for `label_names`: the checkpoint's backbone with a
    classifier drawn with `seed` (`pretrained`), or a model of the checkpoint's config drawn with `seed` throughout
    (`scratch`). Written into a temporary folder and renamed, so a start on disk is always complete."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification

    config = AutoConfig.from_pretrained(checkpoint)
    config.num_labels = len(label_names)
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: index for index, name in enumerate(label_names)}
    config.problem_type = "single_label_classification"
    torch.manual_seed(seed)
    model = AutoModelForImageClassification.from_config(config)
    if start == "pretrained":
        backbone = getattr(model, model.base_model_prefix)
        backbone.load_state_dict(AutoModel.from_pretrained(checkpoint).state_dict())
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    AutoImageProcessor.from_pretrained(checkpoint).save_pretrained(partial)
    partial.rename(directory)


def cell_arguments(start_dir: Path, args: argparse.Namespace, seed: int, train_fraction: float) -> list[str]:
    """The `inductive-zoo train` arguments of one cell (without the output directory)."""
    arguments = [
        "--model_name_or_path", str(start_dir), "--dataset", args.dataset, "--train_fraction", f"{train_fraction:.6g}",
        "--subset_seed", str(seed), "--seed", str(seed), *TRANSFER_RECIPE,
    ]  # fmt: skip
    if args.max_eval_samples is not None:
        arguments += ["--max_eval_samples", str(args.max_eval_samples)]
    return arguments + args.extra


def train_cell(arguments: list[str], run_dir: Path) -> dict[str, Any]:
    """Fine-tunes (or resumes) and evaluates one cell; returns what its stored JSON holds besides its identity."""
    trainer, metrics = run(*parse_args([*arguments, "--output_dir", str(run_dir), "--resume_from_checkpoint", "auto"]))
    return {
        "train_images": len(trainer.train_dataset),
        "eval_images": len(trainer.eval_dataset),
        "top1": metrics["eval_accuracy"],
        "train_runtime_s": metrics.get("train_runtime"),
    }


def run_cells(args: argparse.Namespace, output_dir: Path) -> list[dict[str, Any]]:
    """Writes the missing starts, trains every cell not stored yet (storing it atomically when done) and returns
    every cell's record; refuses a stored cell whose command differs from the one it would be trained with now."""
    data = load_image_dataset(args.dataset)
    train = data.splits["train"]
    label_names = train.features[data.label_column].names
    if not 0 < args.train_images <= len(train):
        raise ValueError(
            f"--train_images must be between 1 and the {len(train)} training images, got {args.train_images}"
        )
    cells = [(checkpoint, seed, start) for checkpoint in args.checkpoints for seed in args.seeds for start in STARTS]
    records = []
    for checkpoint, seed, start in cells:
        name = f"{checkpoint_name(checkpoint)}-{start}-s{seed}"
        start_dir = output_dir / "starts" / name
        arguments = cell_arguments(start_dir, args, seed, args.train_images / len(train))
        path = output_dir / "cells" / f"{name}.json"
        if path.exists():
            stored = json.loads(path.read_text())
            if stored["arguments"] != arguments:
                raise ValueError(
                    f"cell {name} in {output_dir} was trained with {stored['arguments']}, not {arguments}; choose "
                    "another --output_dir"
                )
            records.append(stored)
            continue
        if not start_dir.is_dir():
            write_start(checkpoint, start, label_names, seed, start_dir)
        record = {
            "checkpoint": checkpoint,
            "start": start,
            "seed": seed,
            **train_cell(arguments, output_dir / "runs" / name),
            "arguments": arguments,
        }
        write_json_atomic(path, record)
        records.append(record)
    return records


def summarise(records: list[dict[str, Any]], output_dir: Path) -> str:
    """Writes `results.csv` and `results.md` from the cells' records; returns the Markdown."""
    write_csv(
        output_dir / "results.csv", records,
        ["checkpoint", "start", "seed", "train_images", "eval_images", "top1", "train_runtime_s"],
    )  # fmt: skip
    top1: dict[tuple[str, str], list[float]] = {}
    for record in records:
        top1.setdefault((record["checkpoint"], record["start"]), []).append(record["top1"])
    rows = []
    for checkpoint in dict.fromkeys(record["checkpoint"] for record in records):
        pretrained, scratch = top1.get((checkpoint, "pretrained"), []), top1.get((checkpoint, "scratch"), [])
        difference = f"{statistics.mean(pretrained) - statistics.mean(scratch):+.4f}" if pretrained and scratch else "-"
        rows.append([f"`{checkpoint}`", mean_and_spread(pretrained), mean_and_spread(scratch), difference])
    images = sorted({(record["train_images"], record["eval_images"]) for record in records})
    sizes = ", ".join(f"{train} training and {evaluated} test images" for train, evaluated in images)
    markdown = (
        f"Top-1 on the test split after fine-tuning ({sizes}): from the checkpoint's backbone and from scratch, the "
        "same recipe; mean ± sample standard deviation over seeds (n) where seeded.\n\n"
        + markdown_table(["checkpoint", "from its backbone", "from scratch", "difference"], rows)
    )
    (output_dir / "results.md").write_text(markdown)
    return markdown


def parse_study_args(argv: list[str]) -> argparse.Namespace:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(
        prog="inductive-zoo study transfer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoints", nargs="+", required=True, help="checkpoint folders or Hub ids")
    parser.add_argument("--dataset", default="digits", help="'digits', a Hub id or a local directory in Hub layout")
    parser.add_argument("--train_images", type=int, default=500, help="class-balanced training images per cell")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one cell pair per seed (subset and head)")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="evaluate on the first N images only")
    parser.add_argument("--summarise_only", action="store_true", help="rewrite the tables from the stored cells")
    parser.add_argument("--output_dir", default="outputs/study-transfer")
    args = parser.parse_args(argv)
    names = [checkpoint_name(checkpoint) for checkpoint in args.checkpoints]
    if len(set(names)) != len(names):
        parser.error(f"--checkpoints: two checkpoints share a name, so their cells would collide: {names}")
    args.extra = extra
    return args


def main(argv: list[str] | None = None) -> str:
    """Command-line entry point: `inductive-zoo study transfer ...`; returns the Markdown table."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_study_args(argv)
    output_dir = Path(args.output_dir)
    if args.summarise_only:
        records = stored_cells(output_dir, "transfer")
    else:
        record_run(output_dir, "transfer", argv)
        records = run_cells(args, output_dir)
    markdown = summarise(records, output_dir)
    print(markdown)
    return markdown
