"""Context-aware decomposed attention (CADA, Arizumi 2022): local attention as a per-pixel mix of base kernels."""

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init

from .registry import register_token_mixer

INVARIANCES = ("strict", "relaxed")


@register_token_mixer("cada")
class ContextAwareDecomposedAttention(nn.Module):
    """CADA (Arizumi 2022, "Studying inductive biases in image classification task", arXiv 2210.17141): a local
    `k x k` attention whose map is decomposed into `B` trainable base kernels combined by context-aware coefficients.

    For input values `x` (the caller's value projection `W_v x`; in a ResNet bottleneck its first 1x1 convolution),
    output pixel `i` of channel `c` in channel group `g` is

        out_{c,i} = sum_b coeff_{g,b,i} (K_{c,b} * x_c)_i + (R_c * x_c)_i,   coeff_{g,:,i} = softmax_b(logits_{g,:,i})

    with per-channel base kernels `K_{c,b}` and an optional relative-position kernel `R_c` (a content-independent
    term that depends only on the offset inside the window: the paper's strong-invariance term). The paper gives
    only the idea; the rest is our design:

    - Computation: `B` depthwise convolutions of `x` (one per base, `C` outputs, `groups=C`, "same" zero padding
      `k // 2` and the layer's stride), accumulated with their coefficients per pixel (broadcast over the `C / G`
      channels of each of the `G` context groups), plus the depthwise convolution with `R`. Cost
      `O((B + 1) k^2 C H' W')`; no neighbourhood is ever unfolded. Why not one depthwise convolution with `(B + 1) C`
      outputs read as `(N, C, B + 1, H', W')`: a channel multiplier takes a slow path on CPU (the timing is in
      `training/RESULTS.md`, "CADA-ResNet's layer: B depthwise convolutions").
    - `invariance="relaxed"`: `logits = g(x)`, `g` a 1x1 convolution from `C` channels to `G B` logits (weights
      `context_weight`, `context_bias`), so the coefficients vary with the content at each pixel. With `stride=2`,
      `g` runs with the same stride, i.e. on `x[..., ::2, ::2]`: the input pixel at the centre of each output's
      window, which is exactly the context a stride-1 layer uses.
    - `invariance="strict"`: the logits are a position-independent parameter `coefficient_logits` of shape `(G, B)`;
      the layer is then exactly a depthwise convolution with kernel `sum_b coeff_{g,b} K_{c,b} + R_c` and is computed
      as one (the kernels are folded first).
    - Initialisation (`reset_parameters`, also run by the models' `_init_weights`): kernels He-normal in fan-out mode
      (`std = sqrt(2 / k^2)`, the fan-out of a depthwise convolution); context projection and `coefficient_logits`
      zero, so the coefficients start uniform (`1 / B`). `relative_position=True` is the default of
      `CADAResNetConfig` (the paper finds the term helps).

    Args:
        channels: `C`, input and output channels.
        num_bases: `B`, base kernels per channel.
        kernel_size: odd `k`, side of the local window.
        stride: 1, or 2 in a downsampling block.
        context_groups: `G`, channel groups with their own coefficients (like attention heads); divides `channels`.
        invariance: `"relaxed"` (context-aware coefficients) or `"strict"` (position-independent coefficients).
        relative_position: whether the relative-position kernel `R` is added.
    """

    def __init__(
        self,
        channels: int,
        num_bases: int,
        kernel_size: int,
        stride: int = 1,
        context_groups: int = 1,
        invariance: str = "relaxed",
        relative_position: bool = True,
    ) -> None:
        super().__init__()
        if channels % context_groups:
            raise ValueError(f"channels ({channels}) must be divisible by context_groups ({context_groups})")
        if invariance not in INVARIANCES:
            raise ValueError(f"invariance must be one of {INVARIANCES}, got {invariance!r}")
        self.channels = channels
        self.num_bases = num_bases
        self.kernel_size = kernel_size
        self.stride = stride
        self.context_groups = context_groups
        self.padding = kernel_size // 2
        self.base_kernels = nn.Parameter(torch.zeros(num_bases, channels, 1, kernel_size, kernel_size))
        self.relative_position_kernel = None
        if relative_position:
            self.relative_position_kernel = nn.Parameter(torch.zeros(channels, 1, kernel_size, kernel_size))
        self.context_weight = self.context_bias = self.coefficient_logits = None
        if invariance == "relaxed":
            self.context_weight = nn.Parameter(torch.zeros(context_groups * num_bases, channels, 1, 1))
            self.context_bias = nn.Parameter(torch.zeros(context_groups * num_bases))
        else:
            self.coefficient_logits = nn.Parameter(torch.zeros(context_groups, num_bases))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """He-normal kernels (fan-out `k^2`), zero context: uniform coefficients. Through `transformers.initialization`,
        which leaves tensors loaded by `from_pretrained` alone."""
        std = math.sqrt(2.0) / self.kernel_size
        for kernel in (self.base_kernels, self.relative_position_kernel):
            if kernel is not None:
                init.normal_(kernel, mean=0.0, std=std)
        for parameter in (self.context_weight, self.context_bias, self.coefficient_logits):
            if parameter is not None:
                init.zeros_(parameter)

    def coefficients(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """The mixing coefficients `coeff`, shape `(N, G, B, H', W')` on the output grid; they sum to 1 over `B`."""
        batch_size, _, height, width = hidden_states.shape
        groups, bases = self.context_groups, self.num_bases
        if self.coefficient_logits is not None:
            output_size = (-(-height // self.stride), -(-width // self.stride))
            coefficients = self.coefficient_logits.softmax(dim=-1).to(hidden_states.dtype)
            return coefficients.view(1, groups, bases, 1, 1).expand(batch_size, -1, -1, *output_size)
        logits = F.conv2d(hidden_states, self.context_weight, self.context_bias, stride=self.stride)
        return logits.view(batch_size, groups, bases, *logits.shape[-2:]).softmax(dim=2)

    def depthwise(self, hidden_states: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return F.conv2d(hidden_states, kernel, stride=self.stride, padding=self.padding, groups=self.channels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.coefficient_logits is not None:
            return self.depthwise(hidden_states, self.strict_kernel())
        coefficients = self.coefficients(hidden_states)
        batch_size, groups, _, height, width = coefficients.shape
        coefficients = coefficients.unsqueeze(2)  # (N, G, 1, B, H', W'): shared by the C / G channels of a group
        terms = (
            self.depthwise(hidden_states, kernel).view(batch_size, groups, -1, height, width)
            * coefficients[..., base, :, :]
            for base, kernel in enumerate(self.base_kernels)
        )
        mixed = functools.reduce(torch.add, terms).view(batch_size, self.channels, height, width)
        if self.relative_position_kernel is not None:
            mixed = mixed + self.depthwise(hidden_states, self.relative_position_kernel)
        return mixed

    def strict_kernel(self) -> torch.Tensor:
        """The `(C, 1, k, k)` kernel of the strict layer: `sum_b coeff_{g(c),b} K_{c,b} + R_c`."""
        coefficients = self.coefficient_logits.softmax(dim=-1).to(self.base_kernels.dtype)
        coefficients = coefficients.repeat_interleave(self.channels // self.context_groups, dim=0)  # (C, B)
        kernel = torch.einsum("cb,bcokl->cokl", coefficients, self.base_kernels)
        if self.relative_position_kernel is not None:
            kernel = kernel + self.relative_position_kernel
        return kernel
