"""Trainer callbacks that act on the model between steps."""

import logging

from transformers import PreTrainedModel, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

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


class PRSCallback(TrainerCallback):
    """Progressive reparameterization scheduling as a `TrainerCallback`.

    At the start of every epoch `e` (and at the start of training, which covers `immediate` and resumed runs),
    every reparameterizable layer whose switch epoch is `<= e` and that is still a convolution is switched with
    `model.reparameterize`. The switch is recorded in `state.log_history` as `{"prs_switched_layer": l,
    "prs_switch_epoch": e}` and logged. The layer modes travel with the model's weights, so a run resumed from a
    checkpoint continues in the right modes; every process of a multi-process run takes the same decisions from
    the same epoch counter; gradient accumulation does not matter, switches happen at epoch boundaries.
    """

    def __init__(self, schedule: str = "linear", conv_epochs: int = 0) -> None:
        prs_switch_epochs(schedule, conv_epochs, 1)  # validates the arguments
        self.schedule = schedule
        self.conv_epochs = conv_epochs

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
