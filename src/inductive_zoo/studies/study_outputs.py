"""What every study writes beside its results: the exact command, the environment, and tables as CSV and Markdown,
with one way to write a mean over seeds."""

import csv
import datetime
import json
import os
import platform
import shlex
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers

from ..training.atomic_writes import write_json_atomic


def environment() -> dict[str, Any]:
    """Python, torch, transformers, the compute device, thread count, host and date of this run."""
    if torch.cuda.is_available():
        device = f"CUDA: {torch.cuda.get_device_name()}"
    else:
        device = f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def record_run(output_dir: str | os.PathLike, study: str, argv: Sequence[str]) -> None:
    """Writes `command.txt` (the command line that reproduces the study) and `environment.json` into `output_dir`."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["inductive-zoo", "study", study, *argv])
    (output_dir / "command.txt").write_text(command + "\n")
    write_json_atomic(output_dir / "environment.json", environment())


def stored_cells(output_dir: str | os.PathLike, study: str) -> list[dict[str, Any]]:
    """The records of a study's finished cells (`OUTPUT_DIR/cells/*.json`), for `--summarise_only`.

    Raises:
        SystemExit: none is stored (the message names the folder).
    """
    records = [json.loads(path.read_text()) for path in sorted((Path(output_dir) / "cells").glob("*.json"))]
    if not records:
        raise SystemExit(f"inductive-zoo study {study}: no stored cells in {Path(output_dir) / 'cells'}")
    return records


def comma_list(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    """An argparse `type` for comma-separated lists, e.g. `--depths 2,4,8` with `comma_list(int)`."""
    return lambda text: [kind(item) for item in text.split(",") if item.strip()]


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Rows (dicts) as a CSV file with a header of `columns`."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table: a header row, a rule, then one line per row (cells converted with `str`)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def mean_and_spread(values: Sequence[float]) -> str:
    """`"0.6421"` for one value, `"0.6421 ± 0.0040 (n=3)"` (sample standard deviation) for several."""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (n={len(values)})"
