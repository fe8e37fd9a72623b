"""The checks every model's entry point makes on its `pixel_values` before using them."""

import torch


def check_pixel_values(pixel_values: torch.Tensor, num_channels: int) -> None:
    """Checks that `pixel_values` is a `(batch, channels, height, width)` batch with `num_channels` channels.

    Raises:
        ValueError: `pixel_values` is not 4-D, or has another number of channels than `num_channels`.
    """
    if pixel_values.ndim != 4:
        raise ValueError(
            f"pixel_values must have shape (batch, channels, height, width), got shape {tuple(pixel_values.shape)}"
        )
    if pixel_values.shape[1] != num_channels:
        raise ValueError(
            f"pixel_values has {pixel_values.shape[1]} channels but the model expects config.num_channels="
            f"{num_channels}; convert the images first (the image processor does with do_convert_rgb=True)"
        )
