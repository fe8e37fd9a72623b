"""Multi-head self-attention with a fused QKV projection, and the attention kernels every attention mixer of the zoo
runs through transformers' attention interface."""

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AttentionInterface, PreTrainedConfig
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from .registry import register_token_mixer

# Reduced precisions in which CPU attention is computed explicitly (see `cpu_explicit_sdpa`).
CPU_EXPLICIT_ATTENTION_DTYPES = (torch.bfloat16, torch.float16)


def eager_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: object,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention matrix formed explicitly, as transformers' `eager_attention_forward`: `softmax(Q K^T scaling)`
    in float32 (cast back), dropped out by `dropout` in training, times `V`. Returns the context `(batch, N, heads,
    head_dim)` and the attention maps `(batch, heads, N, N)`; the zoo's attention is unmasked (`attention_mask` must
    be `None`)."""
    weights = torch.softmax((query * scaling) @ key.transpose(-2, -1), dim=-1, dtype=torch.float32).to(query.dtype)
    context = F.dropout(weights, dropout, module.training) @ value
    return context.transpose(1, 2), weights


def cpu_explicit_sdpa(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """transformers' `sdpa` attention function, except on CPU in bfloat16/float16 (under autocast) without a mask,
    where it is computed explicitly, `softmax(Q K^T scaling) V` with the weights dropped out by `dropout`. Why: the
    fused CPU kernel's backward is far slower in reduced precision than plain matmuls, which use the CPU's bf16 units,
    and SDPA's math backend adds a guard against fully masked rows (`all`, `isneginf`, `where` over the scores) that an
    unmasked attention does not need (`benchmarks/profile_step.py`; figures in `training/RESULTS.md`). Returns the
    context `(batch, N, heads, head_dim)` and no maps, as transformers' attention functions do."""
    if query.device.type == "cpu" and query.dtype in CPU_EXPLICIT_ATTENTION_DTYPES and attention_mask is None:
        scale = query.shape[-1] ** -0.5 if scaling is None else scaling
        weights = torch.softmax(torch.matmul(query * scale, key.transpose(-2, -1)), dim=-1)
        if dropout > 0:
            weights = F.dropout(weights, p=dropout)
        return torch.matmul(weights, value).transpose(1, 2), None
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)


def zoo_attention_functions() -> AttentionInterface:
    """transformers' attention functions (`flex_attention`, `flash_attention_2`, anything registered with
    `AttentionInterface.register`) with `sdpa` overridden by `cpu_explicit_sdpa` for the zoo's models only: a local
    entry of an `AttentionInterface` instance, as transformers prescribes for a model that overrides a kernel, so no
    other model in the process changes."""
    functions = AttentionInterface()
    functions["sdpa"] = cpu_explicit_sdpa
    return functions


ATTENTION_FUNCTIONS = zoo_attention_functions()


def attention_function(config: PreTrainedConfig, output_attentions: bool = False) -> Callable:
    """The attention kernel `config._attn_implementation` names, looked up in `ATTENTION_FUNCTIONS` (`None`, a mixer
    used outside a model, means `sdpa`); `eager_attention` for `"eager"` and whenever the maps are asked for
    (`output_attentions`), since only it forms them.

    Raises:
        KeyError: the name is not registered with transformers' `AttentionInterface` (transformers' message).
    """
    implementation = config._attn_implementation or "sdpa"
    if output_attentions or implementation == "eager":
        return eager_attention
    return ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention)


def split_heads(projected: torch.Tensor, num_heads: int, parts: int = 1) -> tuple[torch.Tensor, ...]:
    """`parts` tensors `(batch, heads, N, head_dim)` from a fused projection `(batch, N, parts * heads * head_dim)`
    whose parts are concatenated in order (`qkv`: query, key, value)."""
    batch_size, seq_len, width = projected.shape
    head_dim = width // (parts * num_heads)
    return projected.reshape(batch_size, seq_len, parts, num_heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)


def merge_heads(context: torch.Tensor) -> torch.Tensor:
    """`(batch, heads, N, head_dim)` per-head outputs concatenated into `(batch, N, heads * head_dim)`."""
    return context.transpose(1, 2).flatten(2)


class MultiHeadMixer(nn.Module):
    """What every attention mixer of the zoo shares: the config, `num_heads` heads of `head_dim` channels, the
    `1 / sqrt(head_dim)` scale and the attention dropout. Subclasses add their query/key/value projections, then the
    output projection `proj` (in that order, so that a seeded initialisation draws the weights as before), and what
    their attention adds (positions, masks).

    Reads `hidden_size`, `num_attention_heads` and `attention_probs_dropout_prob` from the config.
    """

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scale = self.head_dim**-0.5
        self.attention_dropout = config.attention_probs_dropout_prob
        self.is_causal = False  # read by transformers' attention functions


@register_token_mixer("self_attention")
class MultiHeadSelfAttention(MultiHeadMixer):
    """Scaled dot-product self-attention over all tokens (Vaswani et al. 2017, eq. 1; ViT, Dosovitskiy et al. 2021).

    `softmax(Q K^T / sqrt(d_head)) V` per head, heads concatenated, then an output projection. Q, K and V come from
    one fused `qkv` linear layer (one matmul instead of three). The kernel is `attention_function(config)`: `"sdpa"`
    (default) runs `cpu_explicit_sdpa`, `"eager"` forms the attention matrix, any other name is looked up in
    transformers' attention interface (`"flex_attention"`, `"flash_attention_2"` on a GPU with flash-attn, ...); a
    call with `output_attentions=True` always takes the eager path, since only it materialises the maps.
    """

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__(config)
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int] | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        query, key, value = split_heads(self.qkv(hidden_states), self.num_heads, parts=3)
        dropout = self.attention_dropout if self.training else 0.0
        attend = attention_function(self.config, output_attentions)
        context, attention = attend(self, query, key, value, None, dropout=dropout, scaling=self.scale)
        return self.proj(context.flatten(2)), attention if output_attentions else None
