"""Trainer callbacks that act on the model between steps, and the guard that stops a diverged run."""

import copy
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from torch import nn
from torch.utils.data import Dataset
from transformers import PreTrainedModel, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..analysis import attention_mass_outside, mean_attention_distance
from ..evaluation import extract_features, knn_accuracy
from ..objectives.self_distillation import teacher_momentum

logger = logging.getLogger(__name__)

PRS_SCHEDULES = ("linear", "uniform", "never", "immediate")


def prs_switch_epochs(schedule: str, conv_epochs: int, num_layers: int) -> list[int | None]:
    """The epoch at which each reparameterizable layer switches from convolution to attention (`None`: never).

    - `linear` (PRS, Lee et al. 2022): later layers switch earlier, `e_l = round(E * (L - 1 - l) / (L - 1))`;
    - `uniform`: every layer at epoch `E` (plain reparameterization);
    - `never`: a convolutional network throughout; `immediate`: attention from the first step.
    """
    if schedule not in PRS_SCHEDULES:
        raise ValueError(f"schedule must be one of {PRS_SCHEDULES}, got {schedule!r}")
    if conv_epochs < 0:
        raise ValueError(f"conv_epochs must be >= 0, got {conv_epochs}")
    if schedule == "never":
        return [None] * num_layers
    if schedule == "immediate":
        return [0] * num_layers
    if schedule == "uniform" or num_layers == 1:
        return [conv_epochs] * num_layers
    return [round(conv_epochs * (num_layers - 1 - layer) / (num_layers - 1)) for layer in range(num_layers)]


@torch.no_grad()
def content_weights(model: nn.Module) -> list[torch.Tensor | None]:
    """Each reparameterizable block's `(heads,)` content-attention weight `1 - gate` (PRS-ViT's linear gate, or
    GPSA's `1 - sigmoid(lambda_h)`) of a PRS-ViT model (a classifier or any model with a PRS-ViT `backbone`); `None`
    for a block that is still a convolution. A negative weight subtracts a content-weighted average of the tokens."""
    backbone = model.backbone
    return [
        1 - mixer.positional_gate().float() if mode == "attention" else None
        for mode, mixer in zip(backbone.layer_modes, backbone.reparameterizable_mixers, strict=True)
    ]


@torch.no_grad()
def reparameterization_diagnostics(
    model: nn.Module, pixel_values: torch.Tensor, batch_size: int = 64
) -> dict[str, float]:
    """What each switched block of a PRS-ViT model (a classifier or any model with a PRS-ViT `backbone`) has learned:
    `prs_content_weight_{l}` (the weight of content attention, mean over heads), `prs_mass_outside_3x3_{l}` and
    `prs_attention_distance_{l}` (`analysis.attention_mass_outside` and `mean_attention_distance` of the effective
    mixing matrix returned by `output_attentions`, averaged over `pixel_values`, heads and patch queries). Empty
    while every block is a convolution. Runs the backbone in eval mode and draws no random number."""
    backbone = model.backbone
    switched = [index for index, mode in enumerate(backbone.layer_modes) if mode == "attention"]
    if not switched:
        return {}
    grid = (backbone.config.image_size // backbone.config.patch_size,) * 2
    totals = {f"prs_{name}_{index}": 0.0 for index in switched for name in ("mass_outside_3x3", "attention_distance")}
    was_training = backbone.training
    backbone.eval()
    device = next(backbone.parameters()).device
    for chunk in pixel_values.split(batch_size):
        attentions = backbone(chunk.to(device), output_attentions=True).attentions
        for index in switched:
            share = len(chunk) / len(pixel_values)
            totals[f"prs_mass_outside_3x3_{index}"] += attention_mass_outside(attentions[index], grid) * share
            totals[f"prs_attention_distance_{index}"] += mean_attention_distance(attentions[index], grid) * share
    backbone.train(was_training)
    weights = {
        f"prs_content_weight_{index}": float(weight.mean())
        for index, weight in enumerate(content_weights(model))
        if weight is not None
    }
    return {**weights, **totals}


class PRSCallback(TrainerCallback):
    """Progressive reparameterization scheduling as a `TrainerCallback`.

    At the start of every epoch `e` (and at the start of training, which covers `immediate` and resumed runs),
    every reparameterizable layer whose switch epoch is `<= e` and that is still a convolution is switched with
    `model.reparameterize`. The switch is recorded in `state.log_history` as `{"prs_switched_layer": l,
    "prs_switch_epoch": e}` and logged. The layer modes travel with the model's weights, so a run resumed from a
    checkpoint continues in the right modes; every process of a multi-process run takes the same decisions from
    the same epoch counter; gradient accumulation does not matter, switches happen at epoch boundaries.

    With `diagnostic_pixels` (a fixed batch, e.g. 256 test images), the end of every epoch adds
    `reparameterization_diagnostics` of the switched blocks to `state.log_history` (with `epoch` and `step`).
    """

    def __init__(
        self, schedule: str = "linear", conv_epochs: int = 0, diagnostic_pixels: torch.Tensor | None = None
    ) -> None:
        prs_switch_epochs(schedule, conv_epochs, 1)  # validates the arguments
        self.schedule = schedule
        self.conv_epochs = conv_epochs
        self.diagnostic_pixels = diagnostic_pixels

    def switch_due_layers(self, model: PreTrainedModel, state: TrainerState) -> None:
        epoch = int(state.epoch or 0)
        due_epochs = prs_switch_epochs(self.schedule, self.conv_epochs, len(model.layer_modes))
        due = [layer for layer, switch in enumerate(due_epochs) if switch is not None and switch <= epoch]
        for layer in model.reparameterize(due):
            entry = {"prs_switched_layer": layer, "prs_switch_epoch": epoch, "step": state.global_step}
            state.log_history.append(entry)
            logger.info("PRS: layer %d switched from convolution to attention at epoch %d", layer, epoch)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if not hasattr(model, "reparameterize"):
            raise ValueError(f"PRSCallback needs a PRS-ViT model with `reparameterize`, got {type(model).__name__}")
        self.switch_due_layers(model, state)

    def on_epoch_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        self.switch_due_layers(model, state)

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if self.diagnostic_pixels is None:
            return
        diagnostics = reparameterization_diagnostics(model, self.diagnostic_pixels)
        if diagnostics:
            state.log_history.append({**diagnostics, "epoch": state.epoch, "step": state.global_step})


class KNNMonitorCallback(TrainerCallback):
    """The standard monitor of self-supervised pre-training: weighted k-NN accuracy of the current frozen features
    (Wu et al. 2018; Caron et al. 2021, DINO: cosine similarity, `k=20`, votes weighted by `exp(s / 0.07)`).

    At the end of every epoch `e` (counted from 1) with `e % every_n_epochs == 0`, and at the end of training unless
    the last epoch was just measured, `pooler_output` features of `train_dataset` (the memory bank) and of
    `eval_dataset` (held out) are extracted with the model being trained, in eval mode and without gradients (see
    `extract_features`), and `knn_accuracy` of the held-out examples is computed. Both datasets yield
    `{"image", "label"}` without augmentation (`DecodedImageDataset` without a `batch_transform`). The features come
    from `feature_model_fn(model)` if given (e.g. a DINO wrapper's teacher or student), else from the backbone the
    model wraps (`base_model` or a `backbone` attribute, see `feature_backbone`).

    The result is appended to `state.log_history` as `{"knn_accuracy": a, "epoch": e, "step": s}`, as `PRSCallback`
    records its switches, so it is saved in `trainer_state.json` with the next checkpoint, and logged through the
    `logging` module. Reporting integrations (`report_to`) only see what `Trainer.log` sends, so they do not get it;
    `control` is left untouched, because changing `should_log` on one process would desynchronise the loss
    all-gather of a multi-process run. In a multi-process run only the world process zero computes (the others go
    straight on and wait for it at their next collective operation, so a run's `ddp_timeout` must exceed one
    measurement); sharded models (FSDP, DeepSpeed ZeRO-3) are not supported, since rank 0 alone cannot run them.
    """

    def __init__(
        self,
        train_dataset: Dataset,
        eval_dataset: Dataset,
        every_n_epochs: int = 1,
        k: int = 20,
        temperature: float = 0.07,
        batch_size: int | None = None,
        feature_model_fn: Callable[[nn.Module], nn.Module] | None = None,
        collate_fn: Callable[[list[dict]], dict] | None = None,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.every_n_epochs = every_n_epochs
        self.k = k
        self.temperature = temperature
        self.batch_size = batch_size
        self.feature_model_fn = feature_model_fn
        self.collate_fn = collate_fn
        self.last_measured_step: int | None = None

    def measure(self, args: TrainingArguments, state: TrainerState, model: nn.Module) -> None:
        """Extracts the features of both datasets with `model` now, and records and logs their k-NN accuracy."""
        self.last_measured_step = state.global_step
        if not state.is_world_process_zero:
            return
        feature_model = self.feature_model_fn(model) if self.feature_model_fn is not None else model
        batch_size = self.batch_size or args.per_device_eval_batch_size
        bank, held_out = (
            extract_features(
                feature_model,
                dataset,
                batch_size,
                collate_fn=self.collate_fn,
                num_workers=args.dataloader_num_workers,
            )
            for dataset in (self.train_dataset, self.eval_dataset)
        )
        accuracy = knn_accuracy(*bank, *held_out, k=self.k, temperature=self.temperature)
        state.log_history.append({"knn_accuracy": accuracy, "epoch": state.epoch, "step": state.global_step})
        logger.info("k-NN accuracy %.4f at epoch %.2f (step %d)", accuracy, state.epoch or 0.0, state.global_step)

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if int(state.epoch or 0) % self.every_n_epochs == 0:
            self.measure(args, state, model)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if self.last_measured_step != state.global_step:
            self.measure(args, state, model)


class DINOTeacherCallback(TrainerCallback):
    """Moves a `DINOModel`'s teacher towards its student after every optimizer step (`on_step_end`, which fires once
    per optimizer step, also under gradient accumulation): `model.update_teacher(m)` with
    `m = teacher_momentum(step, state.max_steps, base_momentum)`, `step = state.global_step - 1` being the index of the
    step just taken (DINO's `momentum_schedule[it]`: `base_momentum` at the first step, towards 1 at the last).

    It also sets `model.dino_epoch` (which the teacher temperature warm-up reads) to `state.epoch` at the start of
    training (a resumed run: the checkpoint's epoch) and after every step. The teacher and the loss's center are
    saved with the model, so a resumed run continues them; every process of a multi-process run applies the same
    update to the same (synchronised) student weights.
    """

    def __init__(self, base_momentum: float = 0.996) -> None:
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f"base_momentum must be in [0, 1], got {base_momentum}")
        self.base_momentum = base_momentum

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if not hasattr(model, "update_teacher"):
            raise ValueError(
                f"DINOTeacherCallback needs a DINO model with `update_teacher`, got {type(model).__name__}"
            )
        model.dino_epoch = float(state.epoch or 0.0)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        model.update_teacher(teacher_momentum(state.global_step - 1, state.max_steps, self.base_momentum))
        model.dino_epoch = float(state.epoch or 0.0)


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


class NonFiniteLossError(FloatingPointError):
    """Training diverged: the loss, the gradient norm or the weights became NaN or infinite."""


class NonFiniteLossCallback(TrainerCallback):
    """Stops a run whose loss has become NaN or infinite, without saving the diverged state, and raises
    `NonFiniteLossError` naming the step when training ends (so the recipe neither saves nor evaluates the model).

    `Trainer` hides such a run by default: with `logging_nan_inf_filter` (on by default) a non-finite step loss is
    replaced in the logged average by the mean of the previous ones, so the log stays finite while the weights are
    NaN. This callback therefore checks, after every `check_every_n_steps`-th optimizer step (`on_step_end`), that
    the model's weights are finite (one `get_total_norm` over the parameters: a non-finite loss gives non-finite
    gradients, and every optimizer step with them non-finite weights), and on every log (`on_log`) the logged
    `loss` and, unless `fp16` loss scaling legitimately skips overflowing steps, `grad_norm`. When one is not finite
    it sets `should_training_stop` and clears `should_save` and `should_evaluate` for the rest of the run, so the
    checkpoints already written are the last good ones and stay (no new checkpoint rotates them away). Every process
    of a multi-process run sees the same synchronised weights, so all stop at the same step.
    """

    def __init__(self, check_every_n_steps: int = 1) -> None:
        if check_every_n_steps < 1:
            raise ValueError(f"check_every_n_steps must be >= 1, got {check_every_n_steps}")
        self.check_every_n_steps = check_every_n_steps
        self.diverged_at_step: int | None = None
        self.reason = ""

    def stop(self, state: TrainerState, control: TrainerControl, reason: str) -> None:
        if self.diverged_at_step is None:
            self.diverged_at_step = state.global_step
            self.reason = reason
            logger.error("training diverged at step %d (%s); stopping without saving", state.global_step, reason)
        self.hold(control)

    def hold(self, control: TrainerControl) -> None:
        if self.diverged_at_step is not None:
            control.should_training_stop = True
            control.should_save = False
            control.should_evaluate = False

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.diverged_at_step = None
        self.reason = ""

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if model is not None and state.global_step % self.check_every_n_steps == 0:
            parameters = [parameter.detach() for parameter in model.parameters()]
            if parameters and not torch.isfinite(torch.nn.utils.get_total_norm(parameters)):
                self.stop(state, control, "the weights are not finite after the optimizer step")
        self.hold(control)

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs=None, **kwargs
    ) -> None:
        checked = ("loss",) if args.fp16 else ("loss", "grad_norm")
        for key in checked:
            value = (logs or {}).get(key)
            if isinstance(value, (int, float)) and not math.isfinite(value):
                self.stop(state, control, f"logged {key} = {value}")
        self.hold(control)

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.hold(control)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        if self.diverged_at_step is not None:
            raise NonFiniteLossError(
                f"training diverged at step {self.diverged_at_step}: {self.reason}; stopped without saving that "
                f"state; the last good checkpoint is the last checkpoint-N in {args.output_dir} (if one was saved); "
                "lower the learning rate or enable gradient clipping (--max_grad_norm) and resume or restart"
            )


class WallClockCallback(TrainerCallback):
    """Adds `wall_time_s`, the seconds of training so far, to every entry `Trainer` logs (losses, evaluations), so
    that accuracy can be plotted against time.

    The clock counts the time since `on_train_begin`, plus, in a resumed run, the `wall_time_s` of the last entry of
    the checkpoint's `log_history` (time lost between that entry and the kill is not counted). It reads and writes
    `state.log_history` only: the entry `Trainer.log` has just appended, which is saved with the next checkpoint.
    """

    def __init__(self) -> None:
        self.started_at = 0.0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        earlier = next((entry["wall_time_s"] for entry in reversed(state.log_history) if "wall_time_s" in entry), 0.0)
        self.started_at = time.perf_counter() - earlier

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs=None, **kwargs
    ) -> None:
        if state.log_history:
            state.log_history[-1]["wall_time_s"] = round(time.perf_counter() - self.started_at, 2)


def training_wall_time(log_history: list[dict]) -> float | None:
    """The training time of a run from its `log_history`: the `wall_time_s` that `WallClockCallback` added to the
    entry `Trainer` logs when training ends (counting every resumed part, unlike that entry's `train_runtime`,
    which is the last part's); `None` if there is none."""
    return next(
        (
            entry["wall_time_s"]
            for entry in reversed(log_history)
            if "train_runtime" in entry and "wall_time_s" in entry
        ),
        None,
    )
