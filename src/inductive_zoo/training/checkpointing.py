"""Writing that survives a kill, and a `Trainer` whose checkpoints are atomic and whose resume is exact.

- `atomic_directory(path)`: build a directory under a temporary name beside `path`, then rename it into place, so
  that readers see either the previous directory or the complete new one (published models, exported results).
- `write_json_atomic(path, data)`: the same for one JSON file (finished cells of a study, results).
- `ResumableTrainer`: a `Trainer` that writes every checkpoint into a staging directory and renames it to
  `checkpoint-N` only when every process has finished writing, rotates old checkpoints only after that, resolves
  `resume_from_checkpoint="last"` / `"auto"` to the last complete checkpoint, and draws the randomness of the
  training data from seeds of `(seed, epoch, image index)` (the augmentation, per image) and `(seed, epoch, batch
  indices)` (what is drawn per batch: mixup pairs, masks, views), so that a run resumed in the middle of an epoch
  sees exactly the batches the uninterrupted run saw, and warns when a multi-process run cannot match one process.
  Callbacks can keep state beside the model's (a weight average, `ModelEMACallback`) in its checkpoints and have
  evaluation use it.

Atomicity here is against the process being killed (SIGKILL, pre-emption, out-of-memory): `os.replace` of a
directory or a file within one file system is atomic on POSIX. Files are flushed to the operating system, not
`fsync`ed to disk, except in `write_json_atomic`; a power loss can still lose recently written checkpoints.
"""

import copy
import json
import logging
import os
import random
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from .config_overrides import model_field_differences, overrides_argument
from .records import MODE_FIELDS, mode_arguments

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


def replace_directory(source: str | Path, target: str | Path) -> None:
    """Moves the directory `source` to `target`, replacing an existing `target`.

    A new `target` appears in one `os.replace`. An existing one is first renamed aside and deleted after the move,
    so a kill between the two renames leaves it complete under `.{name}.replaced-*` beside `target`.
    """
    source, target = Path(source), Path(target)
    if not target.exists():
        os.replace(source, target)
        return
    aside = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex[:8]}")
    os.replace(target, aside)
    os.replace(source, target)
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yields an empty staging directory beside `path`; on a normal exit it becomes `path` (replacing an existing
    one), on an exception it is deleted and `path` is left as it was.

        with atomic_directory("outputs/published") as staging:
            model.save_pretrained(staging)
            processor.save_pretrained(staging)

    A process killed inside the block leaves `path` untouched and a `.{name}.incomplete-*` directory beside it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.incomplete-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_directory(staging, target)


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 2) -> None:
    """Writes `data` as JSON to `path` through a temporary file in the same directory, `fsync`ed and then renamed
    over `path`: a reader or a process killed at any moment sees the old content or the new one, never a part."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=indent)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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


def batch_seed(seed: int, epoch: int, indices: list[int]) -> int:
    """A 64-bit seed that depends on the run's seed, the epoch and the (ordered) dataset indices of one batch."""
    sequence = np.random.SeedSequence([int(seed), int(epoch), *(int(index) for index in indices)])
    return int(sequence.generate_state(1, dtype=np.uint64)[0])


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 64-bit seed of one training image's random draws in one epoch: a function of the run's seed, the epoch
    and the image's dataset index only, so the image draws the same in any batch and on any process."""
    return batch_seed(seed, epoch, [index])


def multiprocess_differences(
    num_examples: int, per_device_batch_size: int, world_size: int, drop_last: bool, per_batch_draws: list[str]
) -> list[str]:
    """Why a run on `world_size` processes cannot match a one-process run with the same global batch (empty when
    it can): a partial last batch, which the distributed sampler fills by repeating images, and random draws made
    per device batch (`per_batch_draws`: what the augmentation and the collator draw per batch)."""
    reasons = []
    global_batch = per_device_batch_size * world_size
    partial = num_examples % global_batch
    if partial and not drop_last:
        reasons.append(
            f"the last batch of every epoch holds {partial} of the {num_examples} training images; to give each of "
            f"the {world_size} processes {per_device_batch_size}, the sampler repeats {global_batch - partial} "
            "images from the start of that epoch's order, which a one-process run sees once. Pass "
            "--dataloader_drop_last true to drop the partial batch (the run then matches one process with "
            "--dataloader_drop_last true), or accept the difference"
        )
    reasons += [f"{draws} are drawn per device batch, so splitting a batch changes them" for draws in per_batch_draws]
    return reasons


def first_item(items: list[Any]) -> Any:
    """The DataLoader `collate_fn` of `SeededBatches`, whose `__getitems__` returns one already collated batch."""
    return items[0]


class SeededBatches(torch.utils.data.Dataset):
    """Fetches and collates one batch of `dataset` with every random draw seeded by `batch_seed(seed, epoch,
    indices)`: torch's, Python's and NumPy's global generators are set to it for the fetch and the collation and
    restored afterwards (`torch.random.fork_rng`).

    A dataset with a `fetch(indices, sample_seeds, epoch)` method (`DecodedImageDataset`) also gets one seed per image,
    `sample_seed(seed, epoch, index)`, from which its augmentation draws each image's parameters (unless the
    augmentation is set to draw per batch), and the epoch (alternating flips are a function of index and epoch): those
    draws do not even depend on the batch, so splitting a global batch across processes leaves them unchanged. The rest,
    the per-batch augmentation and the random draws of a collator (mixup/CutMix pairs, masked-image-modeling masks, DINO
    and SimCLR views), depend only on which examples the batch holds and on the epoch: not on how many batches were
    fetched before (a run resumed in the middle of an epoch skips the first batches without fetching them), nor on how
    many DataLoader workers there are, and they no longer consume the global generator that the model's dropout and
    drop-path draw from (which `Trainer` saves and restores with each checkpoint). `__getitems__` returns `[batch]`; the
    DataLoader's `collate_fn` must be `first_item`.
    """

    def __init__(self, dataset: torch.utils.data.Dataset, collate_fn: Callable[[list], Any], seed: int) -> None:
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        seed = batch_seed(self.seed, self.epoch, indices)
        python_state, numpy_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            try:
                if hasattr(self.dataset, "fetch"):
                    seeds = [sample_seed(self.seed, self.epoch, index) for index in indices]
                    samples = self.dataset.fetch(list(indices), sample_seeds=seeds, epoch=self.epoch)
                elif hasattr(self.dataset, "__getitems__"):
                    samples = self.dataset.__getitems__(list(indices))
                else:
                    samples = [self.dataset[index] for index in indices]
                batch = self.collate_fn(samples)
            finally:
                random.setstate(python_state)
                np.random.set_state(numpy_state)
        return [batch]


class SeededBatchesEpochCallback(TrainerCallback):
    """Tells a `SeededBatches` the epoch that starts (the integer part of `state.epoch`, also in a resumed run)."""

    def __init__(self, batches: SeededBatches) -> None:
        self.batches = batches

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.batches.epoch = int(state.epoch or 0)


def repeated_images(batch_sampler: Any, epoch: int) -> list[int] | None:
    """The dataset indices that the processes of a multi-process run are given more than once in `epoch` (sorted):
    the images accelerate's `BatchSamplerShard` repeats to fill the last global batch. Read by iterating copies of
    `batch_sampler` (this process's shard), one per process, with their own random generator, so the run's
    sampler and random state are untouched. `None` when `batch_sampler` is not a shard of that kind, or when its
    order cannot be reproduced (a random sampler that draws from torch's global generator: accelerate's seedable
    sampler, the default, and samplers with their own generator can)."""
    inner = getattr(batch_sampler, "batch_sampler", None)
    if inner is None or not hasattr(batch_sampler, "num_processes") or not hasattr(batch_sampler, "process_index"):
        return None
    sampler = getattr(inner, "sampler", None)
    # A random sampler without a generator of its own (nor accelerate's seed) draws from torch's global generator.
    random_order = isinstance(sampler, torch.utils.data.RandomSampler)
    if random_order and sampler.generator is None and not hasattr(sampler, "initial_seed"):
        return None
    counts: dict[int, int] = {}
    for process in range(batch_sampler.num_processes):
        sampler_copy = copy.copy(sampler)
        if getattr(sampler, "generator", None) is not None:
            sampler_copy.generator = torch.Generator(device=sampler.generator.device)
            sampler_copy.generator.set_state(sampler.generator.get_state())
        if hasattr(sampler_copy, "set_epoch"):
            sampler_copy.set_epoch(epoch)
        inner_copy = copy.copy(inner)
        inner_copy.sampler = sampler_copy
        shard = copy.copy(batch_sampler)
        shard.batch_sampler, shard.process_index = inner_copy, process
        with torch.random.fork_rng(devices=[]):  # a sampler without a generator draws its seed from torch's
            for batch in shard:
                for index in batch:
                    counts[int(index)] = counts.get(int(index), 0) + 1
    return sorted(index for index, count in counts.items() if count > 1)


class RepeatedImagesCallback(TrainerCallback):
    """Names, at the start of every epoch of a multi-process run with a partial last batch, the training images
    that the sampler repeats (`repeated_images`): a warning for the first epoch of the run, and every epoch's list
    in `OUTPUT_DIR/repeated_images.json` (`{epoch: [dataset indices]}`, written atomically)."""

    def __init__(self, output_dir: str) -> None:
        self.path = Path(output_dir) / "repeated_images.json"
        self.warned = False

    def on_epoch_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, train_dataloader: Any = None,
        **kwargs,
    ) -> None:  # fmt: skip
        if not state.is_world_process_zero or train_dataloader is None:
            return
        epoch = int(state.epoch or 0)
        repeated = repeated_images(getattr(train_dataloader, "batch_sampler", None), epoch)
        if not repeated:
            return
        record = json.loads(self.path.read_text()) if self.path.is_file() else {}
        write_json_atomic(self.path, {**record, str(epoch): repeated})
        if not self.warned:
            logger.warning(
                f"epoch {epoch}: the sampler repeats the training images at dataset indices {repeated} to fill the "
                f"last batch (every epoch's in {self.path})."
            )
            self.warned = True


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
        output = super().train(resume_from_checkpoint=resume_from_checkpoint, trial=trial, **kwargs)
        if resume_from_checkpoint is None:
            return output
        resumed_at = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME)).global_step
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
