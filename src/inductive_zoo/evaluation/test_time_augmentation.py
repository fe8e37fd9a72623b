"""Test-time augmentation: a classifier's logits averaged over flipped and shifted copies of each image.

Level 0 is the plain forward pass; level 1 averages the image and its horizontal mirror; level 2 adds the mirrored
pair of the image shifted by one pixel up-left and by one pixel down-right (reflection at the border), weighted
1/2 for the unshifted pair and 1/4 for each shifted pair. This is the evaluation of the fastest CIFAR-10 recipes
(Jordan 2024, airbench, section 3.6); a `pipeline("image-classification")` of the saved model gives the plain
(level 0) predictions.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

TTA_LEVELS = (0, 1, 2)


def check_tta_level(level: int) -> None:
    """Raises `ValueError` naming the option unless `level` is one of `TTA_LEVELS`."""
    if isinstance(level, bool) or level not in TTA_LEVELS:
        raise ValueError(f"tta_level must be one of {TTA_LEVELS}, got {level!r}")


def shifted(pixel_values: torch.Tensor, rows: int, columns: int) -> torch.Tensor:
    """`pixel_values` shifted by `rows` down and `columns` right (each -1, 0 or 1), reflected at the border."""
    padded = F.pad(pixel_values, (1, 1, 1, 1), mode="reflect")
    height, width = pixel_values.shape[-2:]
    return padded[..., 1 - rows : 1 - rows + height, 1 - columns : 1 - columns + width]


def tta_logits(
    logits_fn: Callable[[torch.Tensor], torch.Tensor], pixel_values: torch.Tensor, level: int
) -> torch.Tensor:
    """The logits of `logits_fn` (a batch of images to logits) averaged over the views of `level` (see the module)."""
    check_tta_level(level)
    if level == 0:
        return logits_fn(pixel_values)

    def mirrored_pair(images: torch.Tensor) -> torch.Tensor:
        both = logits_fn(torch.cat([images, images.flip(-1)]))
        return (both[: len(images)] + both[len(images) :]) / 2

    logits = mirrored_pair(pixel_values)
    if level == 2:
        up_left, down_right = shifted(pixel_values, -1, -1), shifted(pixel_values, 1, 1)
        logits = logits / 2 + (mirrored_pair(up_left) + mirrored_pair(down_right)) / 4
    return logits


@contextmanager
def tta_evaluation(model: nn.Module, level: int) -> Iterator[nn.Module]:
    """Within the context, `model(pixel_values=..., labels=...)` returns the logits of `tta_logits`
    at `level` (and, with labels, the cross-entropy of those logits), so that `Trainer.evaluate` evaluates with
    test-time augmentation; the model's own `forward` is restored on exit. Level 0 changes nothing.

    Raises:
        ValueError: `level` is not one of `TTA_LEVELS`.
    """
    check_tta_level(level)
    if level == 0:
        yield model
        return
    plain_forward = model.forward

    def forward(pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any) -> Any:
        outputs = []

        def logits_fn(images: torch.Tensor) -> torch.Tensor:
            outputs.append(plain_forward(pixel_values=images, **kwargs))
            return outputs[-1].logits

        logits = tta_logits(logits_fn, pixel_values, level)
        loss = None if labels is None else F.cross_entropy(logits.float(), labels.to(logits.device))
        return type(outputs[0])(loss=loss, logits=logits)

    model.forward = forward
    try:
        yield model
    finally:
        del model.forward
