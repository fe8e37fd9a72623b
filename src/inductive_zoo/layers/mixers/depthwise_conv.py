"""A depthwise convolution over the patch grid, the convolutional token mixer."""

import torch
from torch import nn
from transformers import PreTrainedConfig

from .grid import grid_to_tokens, tokens_to_grid
from .registry import register_token_mixer


@register_token_mixer("depthwise_conv")
class DepthwiseConvMixer(nn.Module):
    """A `k x k` depthwise convolution over the patch grid with zero "same" padding (ConvMixer, Trockman & Kolter
    2022, eq. 2, without its activation and BatchNorm: the surrounding pre-norm block supplies normalisation);
    `k = config.kernel_size`. Patch tokens only: the config has no class token."""

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            config.hidden_size,
            config.hidden_size,
            config.kernel_size,
            padding=config.kernel_size // 2,
            groups=config.hidden_size,
        )

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int], output_attentions: bool = False
    ) -> tuple[torch.Tensor, None]:
        return grid_to_tokens(self.conv(tokens_to_grid(hidden_states, grid_size))), None
