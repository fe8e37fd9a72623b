"""The checks every model's entry point makes on its `pixel_values` before using them."""

import torch


def check_pixel_values(pixel_values: torch.Tensor, num_channels: int) -> None:
    """Checks that `pixel_values` is a non-empty `(batch, channels, height, width)` batch of finite values with
    `num_channels` channels.

    The finiteness check reads the batch once (`torch.isfinite(...).all()`, about the cost of one element-wise op,
    negligible next to the first layer) and, on an accelerator, waits for the value on the host. It is skipped while
    `torch.compile` traces the model, where a data-dependent branch would break the graph.

    Raises:
        ValueError: `pixel_values` is not 4-D, is an empty batch, holds integers (raw pixels, not normalised), is
            channels-last, has another number of channels than `num_channels`, or holds NaN or infinite values.
    """
    if pixel_values.ndim != 4:
        raise ValueError(
            f"pixel_values must have shape (batch, channels, height, width), got shape {tuple(pixel_values.shape)}"
        )
    if pixel_values.shape[0] == 0:
        raise ValueError(f"pixel_values is an empty batch (shape {tuple(pixel_values.shape)}): nothing to process")
    if not pixel_values.is_floating_point():
        raise ValueError(
            f"pixel_values is a {pixel_values.dtype} tensor (raw 0-255 pixels?) but the model takes normalised "
            "floats: pass the images through the model's image processor (AutoImageProcessor.from_pretrained), "
            "which scales and normalises them"
        )
    if pixel_values.shape[1] != num_channels and pixel_values.shape[-1] == num_channels:
        raise ValueError(
            f"pixel_values of shape {tuple(pixel_values.shape)} looks channels-last (batch, height, width, "
            f"channels); the model takes (batch, channels, height, width): use pixel_values.permute(0, 3, 1, 2)"
        )
    if pixel_values.shape[1] != num_channels:
        raise ValueError(
            f"pixel_values has {pixel_values.shape[1]} channels but the model expects config.num_channels="
            f"{num_channels}; convert the images first (the image processor does with do_convert_rgb=True)"
        )
    checkable = not torch.compiler.is_compiling()
    if checkable and not bool(torch.isfinite(pixel_values).all()):
        bad = int((~torch.isfinite(pixel_values)).flatten(1).any(dim=1).nonzero()[0])
        raise ValueError(
            f"pixel_values holds NaN or infinite values (first in batch item {bad}); check the images and the "
            "normalisation (a zero image_std?)"
        )
