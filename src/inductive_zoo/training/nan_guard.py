"""The guard that stops a diverged run: weights, loss or gradient norm no longer finite."""

import logging
import math

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

logger = logging.getLogger(__name__)


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
