"""The loss of every image-classification head of the zoo, with one check of the label ids."""

from collections.abc import Callable
from typing import Any

import torch
from transformers import PreTrainedConfig


def classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    config: PreTrainedConfig,
    loss_function: Callable[..., torch.Tensor],
    **loss_kwargs: Any,
) -> torch.Tensor:
    """`loss_function(labels, logits, config, **loss_kwargs)` (a head's `self.loss_function`: transformers'
    `ForSequenceClassificationLoss`, cross-entropy for single-label classification, as `config.problem_type` says).

    For single-label classification, integer label ids outside `[0, config.num_labels)` raise `ValueError` here
    instead of an index error (or a silent wrong loss) inside the cross-entropy. `loss_kwargs` carries what
    `Trainer` passes, e.g. `num_items_in_batch`, so that the loss is normalised over the whole accumulated batch
    under gradient accumulation. Under `torch.compile` the check is left to the cross-entropy (reading the labels'
    range would break the graph at every step).
    """
    labels = labels.to(logits.device)
    num_labels = config.num_labels
    single_label = config.problem_type in (None, "single_label_classification") and num_labels > 1
    checked = single_label and not torch.compiler.is_compiling()
    if checked and labels.dtype in (torch.long, torch.int) and labels.numel():
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_labels:
            raise ValueError(
                f"label ids must be in [0, {num_labels}) (config.num_labels), got values in [{low}, {high}]"
            )
    return loss_function(labels, logits, config, **loss_kwargs)


def soft_target_cross_entropy(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
    """Cross-entropy of a classifier's `outputs.logits` against `labels`, the batch mean: `-sum_c t_c log p_c` for
    `(batch, num_classes)` float targets (mixup/CutMix, smoothed labels), plain cross-entropy for integer label ids.

    A `Trainer`'s `compute_loss_func`: `Trainer` then takes the labels out of the inputs, so float targets never
    reach the model, whose `problem_type` would otherwise switch to multi-label. `num_items_in_batch` is accepted
    and unused (the loss is a per-batch mean; set the trainer's `loss_is_scaled_for_ga = False`).
    """
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    if labels.is_floating_point():
        if labels.shape != logits.shape:
            raise ValueError(
                f"soft targets must have the logits' shape {tuple(logits.shape)}, got {tuple(labels.shape)}"
            )
        return torch.sum(-labels.to(logits.device) * torch.log_softmax(logits.float(), dim=-1), dim=-1).mean()
    return torch.nn.functional.cross_entropy(logits.float(), labels.to(logits.device))
