"""A `Trainer` whose checkpoints are atomic and whose resume is exact: `ResumableTrainer` writes every checkpoint into a
staging directory and renames it to `checkpoint-N` only when every process has finished writing, rotates old
checkpoints only after that, resolves `resume_from_checkpoint="last"` / `"auto"` to the last complete checkpoint,
refuses to resume a checkpoint as another run, and draws the training data's randomness from seeds
(`training.seeded_data`). Callbacks can keep state beside the model's (a weight average, `ModelEMACallback`) in its
checkpoints and have evaluation use it. How a kill is survived: `training.atomic_writes`."""

import logging
import os
import re
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainerState
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from .atomic_writes import replace_directory
from .config_overrides import model_field_differences, overrides_argument
from .records import MODE_FIELDS, mode_arguments
from .seeded_data import (
    RepeatedImagesCallback,
    SeededBatches,
    SeededBatchesEpochCallback,
    first_item,
    multiprocess_differences,
)

logger = logging.getLogger(__name__)

STAGING_DIR_NAME = ".incomplete-checkpoints"
TRAINER_STATE_NAME = "trainer_state.json"
CHECKPOINT_PATTERN = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


class IncompleteCheckpointError(ValueError):
    """A checkpoint directory lacks files every complete checkpoint has (a save was interrupted)."""


def checkpoint_step(path: str | Path) -> int | None:
    """The step of a `checkpoint-N` directory name, or `None` for any other name."""
    match = CHECKPOINT_PATTERN.match(Path(path).name)
    return int(match.group(1)) if match else None


def check_complete_checkpoint(path: str | Path) -> None:
    """Raises `IncompleteCheckpointError` if `path` lacks `trainer_state.json` (which `Trainer` writes last) or the
    model weights: a checkpoint whose save was interrupted, e.g. one written by a plain `Trainer` that was killed."""
    path = Path(path)
    if not path.is_dir():
        raise IncompleteCheckpointError(f"checkpoint {path} does not exist or is not a directory")
    missing = [name for name in (TRAINER_STATE_NAME,) if not (path / name).is_file()]
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        missing.append("model weights (model.safetensors)")
    if missing:
        raise IncompleteCheckpointError(
            f"checkpoint {path} is incomplete (missing {', '.join(missing)}): its save was interrupted; "
            "resume from an earlier checkpoint, e.g. --resume_from_checkpoint last"
        )


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The `checkpoint-N` directory of `output_dir` with the largest `N` that is complete, or `None`.

    Unlike `transformers.trainer_utils.get_last_checkpoint`, a directory whose save was interrupted is skipped.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    candidates = sorted(
        (path for path in output_dir.iterdir() if path.is_dir() and checkpoint_step(path) is not None),
        key=checkpoint_step,
        reverse=True,
    )
    for candidate in candidates:
        try:
            check_complete_checkpoint(candidate)
        except IncompleteCheckpointError:
            continue
        return candidate
    return None


def whole_run_train_loss(log_history: list[dict], resumed_at: int, resumed_part_loss: float, global_step: int) -> float:
    """The mean training loss over every step of a run resumed from step `resumed_at`: the losses `Trainer` logged
    up to that step (each the mean of its logging interval, weighted by the interval's steps) together with
    `resumed_part_loss`, the mean over the steps after it (what `Trainer` reports as `train_loss` of a resumed run).
    Steps between the last logged loss and `resumed_at` (a checkpoint off the logging steps) are left out."""
    earlier_sum, earlier_steps = 0.0, 0
    for entry in log_history:
        if "loss" in entry and entry["step"] <= resumed_at:
            earlier_sum += entry["loss"] * (entry["step"] - earlier_steps)
            earlier_steps = entry["step"]
    resumed_steps = global_step - resumed_at
    return (earlier_sum + resumed_part_loss * resumed_steps) / max(earlier_steps + resumed_steps, 1)


class ResumableTrainer(Trainer):
    """`Trainer` with atomic checkpoints, a resume that picks the last complete checkpoint, and exact mid-epoch
    resume of randomly augmented data. Used by every recipe of the package.

    Checkpoints: `_save_checkpoint` lets `Trainer` write `checkpoint-N` under `OUTPUT_DIR/.incomplete-checkpoints/`,
    waits for every process, then the saving process renames it to `OUTPUT_DIR/checkpoint-N` and only then deletes
    checkpoints beyond `save_total_limit`. A kill during a save leaves the previous checkpoints intact and a partial
    directory under `.incomplete-checkpoints/`, which the next save of that step replaces and which resuming never
    picks. `train(resume_from_checkpoint=...)` accepts a path (refused with `IncompleteCheckpointError` if it is
    incomplete), `True` or `"last"` (the last complete checkpoint of `output_dir`; an error if there is none) or
    `"auto"` (the last complete checkpoint if there is one, else a fresh start: one command line for a job that
    may be pre-empted and restarted).

    Callback state: a callback may keep state that the checkpoints and evaluation carry, through three optional
    methods, each called on every callback that has it. `save_checkpoint_state(directory)`: on the processes that
    save (`args.should_save`), after `Trainer` has written the checkpoint into its staging directory and before it
    is renamed into place, so the callback's files are part of the atomic checkpoint. `load_checkpoint_state(
    directory)`: on every process when `train()` starts, with the resolved checkpoint it resumes from, or `None`
    for a fresh start (before `Trainer` loads anything; the callback applies it in `on_train_begin`).
    `evaluation_weights(model)`: a context manager within which every `evaluate()` runs (e.g. with averaged weights
    swapped into the model).

    Data: the training DataLoader fetches through `SeededBatches` (seed: `args.data_seed`, else `args.seed`), so
    the randomness of each batch is a function of the seed, the epoch and the batch's indices (see there). Combined
    with `Trainer`'s own restore of the global generators and its seeded sampler, a run killed anywhere and resumed
    from its last checkpoint ends with the same weights as an uninterrupted run, bitwise on CPU, and reports the
    same `train_loss`: the mean over the whole run (`whole_run_train_loss`), not over the resumed part alone as
    `Trainer` does. An
    `IterableDataset` is passed through unchanged (it has no indices to seed from). `train_data_collator`, when
    given, collates the training batches instead of `data_collator` (which evaluation keeps using): mixup/CutMix.
    On more than one process, the main process logs a warning for each reason the run cannot match a one-process
    run with the same global batch (`multiprocess_differences`).
    """

    def __init__(self, *args: Any, train_data_collator: Callable[[list], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staging_checkpoint = False
        self.train_data_collator = train_data_collator

    def _get_output_dir(self, trial: Any) -> str:
        run_dir = super()._get_output_dir(trial=trial)
        return os.path.join(run_dir, STAGING_DIR_NAME) if self.staging_checkpoint else run_dir

    def _save_checkpoint(self, model: torch.nn.Module, trial: Any) -> None:
        run_dir = self._get_output_dir(trial=trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staged, final = os.path.join(run_dir, STAGING_DIR_NAME, name), os.path.join(run_dir, name)
        if self.args.should_save and os.path.exists(staged):
            shutil.rmtree(staged)  # left by a save that was killed
        self.accelerator.wait_for_everyone()
        self.staging_checkpoint = True
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.staging_checkpoint = False
        if self.args.should_save:
            for callback in self.callbacks_with("save_checkpoint_state"):
                callback.save_checkpoint_state(staged)
        best = self.state.best_model_checkpoint
        if best is not None and os.path.dirname(best) == os.path.dirname(staged):
            self.state.best_model_checkpoint = os.path.join(run_dir, os.path.basename(best))
            if self.args.should_save:
                self.state.save_to_json(os.path.join(staged, TRAINER_STATE_NAME))
        self.accelerator.wait_for_everyone()  # every process has written its part (its RNG state, shards)
        if self.args.should_save:
            replace_directory(staged, final)
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )
        self.accelerator.wait_for_everyone()

    def get_train_dataloader(self) -> torch.utils.data.DataLoader:
        dataset = self.train_dataset
        if dataset is None or isinstance(dataset, torch.utils.data.IterableDataset):
            return super().get_train_dataloader()
        collator = self.train_data_collator or self.data_collator
        try:
            import datasets

            if isinstance(dataset, datasets.Dataset):
                dataset = self._remove_unused_columns(dataset, description="training")
            else:
                collator = self._get_collator_with_removed_columns(collator, description="training")
        except ImportError:
            collator = self._get_collator_with_removed_columns(collator, description="training")
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        batches = SeededBatches(dataset, collator, seed)
        if self.args.world_size > 1 and self.is_world_process_zero():
            transform = getattr(dataset, "batch_transform", None)
            unwrapped_collator = self.train_data_collator or self.data_collator
            draws = [getattr(item, "per_batch_draws", None) for item in (transform, unwrapped_collator)]
            reasons = multiprocess_differences(
                len(dataset),
                self.args.per_device_train_batch_size,
                self.args.world_size,
                self.args.dataloader_drop_last,
                [draw for draw in draws if draw],
            )
            for reason in reasons:
                logger.warning(f"this {self.args.world_size}-process run differs from a one-process run: {reason}.")
            partial = len(dataset) % (self.args.per_device_train_batch_size * self.args.world_size)
            if partial and not self.args.dataloader_drop_last:
                self.remove_callback(RepeatedImagesCallback)
                self.add_callback(RepeatedImagesCallback(self.args.output_dir))
        self.callback_handler.callbacks = [
            callback
            for callback in self.callback_handler.callbacks
            if not isinstance(callback, SeededBatchesEpochCallback)
        ]
        self.add_callback(SeededBatchesEpochCallback(batches))
        original_dataset, original_collator = self.train_dataset, self.data_collator
        self.train_dataset, self.data_collator = batches, first_item
        try:
            return super().get_train_dataloader()
        finally:
            self.train_dataset, self.data_collator = original_dataset, original_collator

    def train(self, resume_from_checkpoint: str | bool | None = None, trial: Any = None, **kwargs: Any) -> Any:
        if resume_from_checkpoint is True or resume_from_checkpoint in ("last", "auto"):
            found = last_complete_checkpoint(self.args.output_dir)
            if found is None and resume_from_checkpoint != "auto":
                raise ValueError(f"no complete checkpoint to resume from in {self.args.output_dir}")
            resume_from_checkpoint = str(found) if found is not None else None
        elif resume_from_checkpoint:
            check_complete_checkpoint(resume_from_checkpoint)
        resume_from_checkpoint = resume_from_checkpoint or None
        if resume_from_checkpoint is not None:
            self.check_resumed_run(Path(resume_from_checkpoint))
        for callback in self.callbacks_with("load_checkpoint_state"):
            callback.load_checkpoint_state(resume_from_checkpoint)
        if resume_from_checkpoint is None:
            return super().train(trial=trial, **kwargs)
        # Read before training: with `save_total_limit` the resumed checkpoint is rotated away by the next save.
        resumed_at = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME)).global_step
        output = super().train(resume_from_checkpoint=resume_from_checkpoint, trial=trial, **kwargs)
        history = self.state.log_history
        loss = whole_run_train_loss(history, resumed_at, output.training_loss, output.global_step)
        for record in (output.metrics, next(e for e in reversed(history) if "train_loss" in e)):
            record["train_loss"] = loss
        return output._replace(training_loss=loss)

    def check_resumed_run(self, checkpoint: Path) -> None:
        """Refuses to resume `checkpoint` with a model or an execution mode other than the ones it was trained with
        (a recipe or a default changed since), which would silently continue a run as another one.

        Raises:
            ValueError: naming the differing config fields or mode arguments and the arguments that resume the run
                as it was trained.
        """
        config = getattr(self.model, "config", None)
        problems, arguments = [], []
        if config is not None and (checkpoint / "config.json").is_file():
            saved = type(config).from_pretrained(checkpoint)
            differences = model_field_differences(config, saved)
            if differences:
                problems.append(f"its model had {', '.join(differences)}")
                arguments.append(overrides_argument(differences))
        if (checkpoint / TRAINING_ARGS_NAME).is_file():
            trained = torch.load(checkpoint / TRAINING_ARGS_NAME, weights_only=False)
            recorded = {name: bool(getattr(trained, name, False)) for name in MODE_FIELDS}
            current = {name: bool(getattr(self.args, name)) for name in MODE_FIELDS}
            differing = [name for name in MODE_FIELDS if recorded[name] != current[name]]
            problems += [f"it ran with {name}={recorded[name]}" for name in differing]
            arguments += mode_arguments(recorded, current)
        if problems:
            raise ValueError(
                f"cannot resume {checkpoint} as another run: {'; '.join(problems)}. Resume it with "
                f"{' '.join(arguments)} (after --recipe, if any), or train into another --output_dir"
            )

    def evaluate(
        self,
        eval_dataset: torch.utils.data.Dataset | dict[str, torch.utils.data.Dataset] | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """`Trainer.evaluate` inside the `evaluation_weights(model)` context of every callback that has one."""
        with ExitStack() as stack:
            for callback in self.callbacks_with("evaluation_weights"):
                stack.enter_context(callback.evaluation_weights(self.model))
            return super().evaluate(
                eval_dataset=eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix
            )

    def callbacks_with(self, method: str) -> list[TrainerCallback]:
        """The callbacks that have a method of this name, in the order they were added."""
        return [callback for callback in self.callback_handler.callbacks if callable(getattr(callback, method, None))]
