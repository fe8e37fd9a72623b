"""The randomness of the training data, drawn from seeds of `(seed, epoch, image index)` (augmentation, per image) and
`(seed, epoch, batch indices)` (what is drawn per batch: mixup pairs, masks, views), so that a run resumed in the
middle of an epoch sees exactly the batches the uninterrupted run saw; and what a multi-process run cannot match."""

import copy
import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from .atomic_writes import write_json_atomic

logger = logging.getLogger(__name__)


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
