"""Multi-head self-attention with a fused QKV projection: SDPA by default, an eager path that returns the maps."""

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedConfig
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .registry import register_token_mixer

# Reduced precisions in which CPU attention is computed explicitly (see `scaled_dot_product_attention`).
CPU_EXPLICIT_ATTENTION_DTYPES = (torch.bfloat16, torch.float16)


def scaled_dot_product_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, dropout_p: float = 0.0
) -> torch.Tensor:
    """`torch.nn.functional.scaled_dot_product_attention`, except on CPU in bfloat16/float16 (under autocast), where
    it is computed explicitly, `softmax(Q K^T / sqrt(d)) V` with the weights dropped out by `dropout_p`. Why: the fused
    CPU kernel's backward is far slower in reduced precision than plain matmuls, which use the CPU's bf16 units, and
    SDPA's math backend adds a guard against fully masked rows (`all`, `isneginf`, `where` over the scores) that an
    unmasked attention does not need (`benchmarks/profile_step.py`; figures in `training/RESULTS.md`)."""
    if query.device.type == "cpu" and query.dtype in CPU_EXPLICIT_ATTENTION_DTYPES:
        weights = torch.softmax(torch.matmul(query * query.shape[-1] ** -0.5, key.transpose(-2, -1)), dim=-1)
        if dropout_p > 0:
            weights = F.dropout(weights, p=dropout_p)
        return torch.matmul(weights, value)
    return F.scaled_dot_product_attention(query, key, value, dropout_p=dropout_p)


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


@register_token_mixer("self_attention")
class MultiHeadSelfAttention(MultiHeadMixer):
    """Scaled dot-product self-attention over all tokens (Vaswani et al. 2017, eq. 1; ViT, Dosovitskiy et al. 2021).

    `softmax(Q K^T / sqrt(d_head)) V` per head, heads concatenated, then an output projection. Q, K and V come from
    one fused `qkv` linear layer (one matmul instead of three). The kernel follows
    `config._attn_implementation`: `"sdpa"` (default) uses `scaled_dot_product_attention` above, `"eager"` computes
    the attention matrix explicitly, and any other name is looked up in transformers' attention-function interface
    (`ALL_ATTENTION_FUNCTIONS`: `"flex_attention"`, `"flash_attention_2"` on a GPU with flash-attn, ...); a call
    with `output_attentions=True` always takes the eager path, since only it materialises the maps.
    """

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__(config)
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.is_causal = False  # read by transformers' attention functions

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int] | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        query, key, value = split_heads(self.qkv(hidden_states), self.num_heads, parts=3)
        dropout = self.attention_dropout if self.training else 0.0
        attention = None
        if output_attentions or self.config._attn_implementation == "eager":
            attention = torch.softmax((query * self.scale) @ key.transpose(-2, -1), dim=-1, dtype=torch.float32)
            attention = attention.to(query.dtype)
            context = F.dropout(attention, dropout, self.training) @ value
        elif self.config._attn_implementation in (None, "sdpa"):
            context = scaled_dot_product_attention(query, key, value, dropout_p=dropout)
        else:
            attention_function = ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]
            output, _ = attention_function(self, query, key, value, None, dropout=dropout, scaling=self.scale)
            return self.proj(output.flatten(2)), None
        return self.proj(merge_heads(context)), attention if output_attentions else None
