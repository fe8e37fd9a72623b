"""Which training images a self-supervised pre-training used, kept with its checkpoint, so that fine-tuning refuses to
be evaluated on images the backbone has already seen (an evaluation split that overlaps the pre-training images
measures memory, not learning).

`inductive-zoo pretrain` writes `pretraining_data.json` into its output directory: the dataset, a digest of its
training labels (the same images read from the Hub or from a local copy give the same digest), and the arguments
that select its images (`train_fraction`, or `exclude_train_fraction` with `exclude_validation_size`, and
`subset_seed`). `inductive-zoo train --model_name_or_path CHECKPOINT --validation_size N` recomputes both sets and
raises `ValueError` when they share an image. The test split is never pre-trained on, so evaluating on it is safe.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import class_balanced_indices, held_out_indices
from .atomic_writes import write_json_atomic

PRETRAINING_DATA_NAME = "pretraining_data.json"


def labels_digest(labels: np.ndarray) -> str:
    """A digest of the training split's labels, in order: equal for the same split however it is read."""
    return hashlib.sha256(np.asarray(labels, dtype=np.int64).tobytes()).hexdigest()


def pretraining_indices(
    labels: np.ndarray,
    train_fraction: float = 1.0,
    exclude_train_fraction: float | None = None,
    exclude_validation_size: int | None = None,
    subset_seed: int = 0,
) -> list[int]:
    """The training rows a pre-training uses: a class-balanced `train_fraction`, or every row outside the
    `exclude_train_fraction` subset (the fine-tuning labels) and, with `exclude_validation_size`, outside the
    validation split that `inductive-zoo train --train_fraction F --validation_size N` holds out from the rest."""
    if exclude_train_fraction is None:
        if exclude_validation_size is not None:
            raise ValueError("exclude_validation_size needs exclude_train_fraction (the fine-tuning subset)")
        return class_balanced_indices(labels, train_fraction, subset_seed)
    if train_fraction != 1.0:
        raise ValueError("exclude_train_fraction and train_fraction exclude each other")
    excluded = set(class_balanced_indices(labels, exclude_train_fraction, subset_seed))
    if exclude_validation_size is not None:
        excluded |= set(held_out_indices(labels, excluded, exclude_validation_size))
    kept = [index for index in range(len(labels)) if index not in excluded]
    if not kept:
        raise ValueError(f"exclude_train_fraction={exclude_train_fraction} leaves no image to pre-train on")
    return kept


def write_pretraining_data(output_dir: str | Path, dataset: str, labels: np.ndarray, selection: dict[str, Any]) -> None:
    """Records the pre-training's images (`selection`: the keyword arguments of `pretraining_indices`)."""
    record = {"dataset": dataset, "labels_digest": labels_digest(labels), **selection}
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(output_dir) / PRETRAINING_DATA_NAME, record)


def check_evaluation_not_pretrained_on(
    checkpoint: str | Path, labels: np.ndarray, eval_indices: list[int], eval_name: str
) -> None:
    """Raises `ValueError` if the checkpoint was pre-trained on one of the training rows `eval_indices` that the
    fine-tuning evaluates on; does nothing for a checkpoint without a pre-training record or pre-trained on another
    dataset."""
    path = Path(checkpoint) / PRETRAINING_DATA_NAME
    if not path.is_file():
        return
    record = json.loads(path.read_text())
    if record["labels_digest"] != labels_digest(labels):
        return
    selection = {key: record[key] for key in record if key not in ("dataset", "labels_digest")}
    seen = set(pretraining_indices(labels, **selection)) & set(eval_indices)
    if seen:
        raise ValueError(
            f"{checkpoint} was pre-trained on {len(seen)} of the {len(eval_indices)} images of the {eval_name} split "
            f"this run evaluates on ({record['dataset']}, {selection}); evaluate on the test split, or pre-train with "
            "--exclude_validation_size equal to this run's --validation_size"
        )
