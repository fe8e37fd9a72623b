"""An exponential moving average of the weights, kept beside the model in every checkpoint and used for evaluation."""

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from torch import nn
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

EMA_WEIGHTS_NAME = "ema_model.safetensors"


def state_tensors(module: nn.Module) -> list[torch.Tensor]:
    """The parameters and persistent buffers of `module` in `state_dict` order, each tensor once (tied weights
    appear under several names)."""
    seen: set[int] = set()
    tensors = []
    for tensor in module.state_dict(keep_vars=True).values():
        if id(tensor) not in seen:
            seen.add(id(tensor))
            tensors.append(tensor)
    return tensors


def swap_contents(first: torch.Tensor, second: torch.Tensor) -> None:
    """Exchanges the values of two tensors of one shape in place."""
    kept = first.clone()
    first.copy_(second)
    second.copy_(kept)


class ModelEMACallback(TrainerCallback):
    """An exponential moving average (EMA) of the model's weights, which is what is evaluated and saved (Polyak and
    Juditsky 1992; as timm's `ModelEmaV2`). Needs `ResumableTrainer`, which calls `evaluation_weights`,
    `save_checkpoint_state` and `load_checkpoint_state`.

    - The average is a deep copy of the model (`ema_model`, one more copy on the model's device), made in
      `on_train_begin`, after `Trainer` has loaded a resumed checkpoint's weights into the model; a resumed run then
      loads the average from the checkpoint's `ema_model.safetensors`.
    - After every optimizer step (`on_step_end`, once per step also under gradient accumulation) each floating-point
      parameter and persistent buffer (BatchNorm running statistics) becomes `ema = d * ema + (1 - d) * live`;
      integer and boolean buffers (`num_batches_tracked`, PRS-ViT's `attention_mode`) are copied. `d` is `decay`,
      or with `warmup` `min(decay, (1 + n) / (10 + n))` after the `n`-th optimizer step (TensorFlow's
      `ExponentialMovingAverage` with `num_updates`): 0.18 after the first step, 0.9 after the 80th, 0.999 after
      about 9,000, so the average forgets the random initialisation in short runs too. `n` is
      `state.global_step`, so a resumed run continues the schedule.
    - A model with `layer_modes` and `reparameterize` (PRS-ViT) switches layers during training (`PRSCallback`); the
      average's layers are switched the same way (`reparameterize` of those whose mode differs from the live
      model's) at every epoch begin, before every update and before the average is used, so the order of the
      callbacks does not matter. A layer switched back to convolution cannot be followed (`ValueError`).
    - `evaluation_weights(model)` swaps the average into the model for the duration of a `with` block (every
      `ResumableTrainer.evaluate`). `on_train_end` copies it into the model for good (with `load_best_model_at_end`,
      the average saved with the best checkpoint), so that the recipe's final `save_model()` and `evaluate()` use
      it; from then on `evaluation_weights` changes nothing.
    - A checkpoint's `model.safetensors` keeps the live weights (so `Trainer`'s resume is unchanged) and
      `ema_model.safetensors` beside it holds the average, written into the staging directory before the
      checkpoint is renamed into place. Resuming from a checkpoint without it raises `ValueError`.

    Every process of a multi-process run keeps its own, identical average (the same updates of the same
    synchronised weights); only the processes that save checkpoints (`args.should_save`) write it. Models sharded
    across processes (FSDP, DeepSpeed ZeRO-3) are not supported.
    """

    def __init__(self, decay: float = 0.9998, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        self.decay = decay
        self.warmup = warmup
        self.ema_model: nn.Module | None = None
        self.resume_file: Path | None = None
        self.final = False
        self.swapped = False

    def decay_at(self, step: int) -> float:
        """The `d` of the update after optimizer step `step` (counted from 1)."""
        return min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay

    def follow_layer_modes(self, model: nn.Module) -> None:
        """Switches the average's layers that are convolutions while the model's are attention (PRS-ViT)."""
        if not hasattr(model, "layer_modes"):
            return
        live_modes, ema_modes = model.layer_modes, self.ema_model.layer_modes
        differing = [layer for layer, (live, ema) in enumerate(zip(live_modes, ema_modes, strict=True)) if live != ema]
        if differing:
            self.ema_model.reparameterize(differing)
            if self.ema_model.layer_modes != live_modes:
                raise ValueError(
                    f"the average cannot follow the model's layer modes {live_modes}: reparameterize only switches "
                    f"convolutions to attention, the average has {self.ema_model.layer_modes}"
                )

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """`ema = d * ema + (1 - d) * live` with `d = decay_at(step)`; integer and boolean buffers are copied."""
        self.follow_layer_modes(model)
        floating: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])
        exact: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])
        for ema, live in zip(state_tensors(self.ema_model), state_tensors(model), strict=True):
            pair = floating if ema.is_floating_point() else exact
            pair[0].append(ema)
            pair[1].append(live)
        if floating[0]:
            torch._foreach_lerp_(*floating, 1.0 - self.decay_at(step))
        if exact[0]:
            torch._foreach_copy_(*exact)

    @contextmanager
    def evaluation_weights(self, model: nn.Module) -> Iterator[None]:
        """Within the block `model` holds the average and `ema_model` the live weights (the values of their
        parameters and persistent buffers are exchanged in place, one tensor at a time, so no second copy of the
        model is made and the model's tensors, which the optimizer holds, stay the same objects); both are back
        when the block ends, also by an exception. Changes nothing before `on_train_begin`, after `on_train_end`,
        and inside a block already swapped (`Trainer.evaluate` of several datasets calls itself)."""
        if self.ema_model is None or self.final or self.swapped:
            yield
            return
        self.follow_layer_modes(model)
        pairs = list(zip(state_tensors(model), state_tensors(self.ema_model), strict=True))
        with torch.no_grad():
            for live, ema in pairs:
                swap_contents(live, ema)
        self.swapped = True
        try:
            yield
        finally:
            with torch.no_grad():
                for live, ema in pairs:
                    swap_contents(live, ema)
            self.swapped = False

    def save_checkpoint_state(self, directory: str | os.PathLike) -> None:
        """Writes the average to `directory/ema_model.safetensors` (tied tensors once)."""
        save_model(self.ema_model, str(Path(directory) / EMA_WEIGHTS_NAME))

    def load_checkpoint_state(self, directory: str | os.PathLike | None) -> None:
        """Called when `train()` starts: the checkpoint it resumes from, whose average `on_train_begin` will load,
        or `None` for a fresh start, whose average starts as a copy of the model.

        Raises:
            ValueError: the checkpoint has no `ema_model.safetensors` (it was saved without this callback).
        """
        if directory is None:
            self.resume_file = None
            return
        path = Path(directory) / EMA_WEIGHTS_NAME
        if not path.is_file():
            raise ValueError(
                f"cannot resume the weight average from {directory}: it has no {EMA_WEIGHTS_NAME} (it was saved "
                "without ModelEMACallback); resume without the average, or start afresh"
            )
        self.resume_file = path

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        self.ema_model = copy.deepcopy(model).requires_grad_(False).eval()
        self.final = False
        if self.resume_file is not None:
            load_model(self.ema_model, self.resume_file)  # its post-hooks restore PRS-ViT's layer modes
            self.resume_file = None
        self.follow_layer_modes(model)

    def on_epoch_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        self.follow_layer_modes(model)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        self.update(model, state.global_step)

    @torch.no_grad()
    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if args.load_best_model_at_end and state.best_model_checkpoint is not None:
            # Trainer has just loaded the best checkpoint's live weights; its average is the one to keep.
            load_model(self.ema_model, Path(state.best_model_checkpoint) / EMA_WEIGHTS_NAME)
        self.follow_layer_modes(model)
        torch._foreach_copy_(state_tensors(model), state_tensors(self.ema_model))
        self.final = True
