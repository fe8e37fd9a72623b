"""PRS-ViT's switch schedule during training (Lee et al. 2022, Sec. 3.2): which epoch switches each
reparameterizable block from convolution to attention, the callback that does it, and what the switched blocks do."""

import logging

import torch
from torch import nn
from transformers import PreTrainedModel, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..analysis import attention_mass_outside, mean_attention_distance

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
        if not hasattr(model, "layer_modes"):
            raise ValueError(
                f"PRSCallback needs a PRS-ViT model (one with `layer_modes` and `reparameterize`), got "
                f"{type(model).__name__} on {type(model.config).__name__}"
            )
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
