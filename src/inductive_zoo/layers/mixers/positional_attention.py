"""Gated positional self-attention (GPSA), ConViT's soft convolutional inductive bias."""

import math

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedConfig

from .attention import MultiHeadMixer, attention_function, merge_heads, split_heads
from .registry import register_token_mixer


def relative_position_features(grid_size: tuple[int, int]) -> torch.Tensor:
    """`r_qk = (dx, dy, dx^2 + dy^2)` for every query/key pair of a raster-ordered grid, shape `(N, N, 3)`.

    `dx = x_k - x_q` (columns) and `dy = y_k - y_q` (rows): the offset from the query to the key (ConViT, eq. 5).
    """
    rows, cols = torch.meshgrid(torch.arange(grid_size[0]), torch.arange(grid_size[1]), indexing="ij")
    x, y = cols.reshape(-1).float(), rows.reshape(-1).float()
    dx = x[None, :] - x[:, None]
    dy = y[None, :] - y[:, None]
    return torch.stack([dx, dy, dx**2 + dy**2], dim=-1)


def kernel_offsets(num_heads: int) -> list[tuple[float, float]]:
    """The `(dx, dy)` offset each head attends to under local initialisation: a `sqrt(H) x sqrt(H)` kernel.

    Head `h = i + k * j` looks at `dx = j - c`, `dy = i - c` with `c` the kernel centre (ConViT's ordering, so
    converted checkpoints keep their head order). For a non-square head count, the first `floor(sqrt(H))^2`
    heads get offsets and the rest `(0, 0)`, the query's own position (our choice: ConViT's reference code leaves
    those rows of `pos_proj` at their random initialisation).
    """
    kernel = math.isqrt(num_heads)
    center = (kernel - 1) / 2
    offsets = [(0.0, 0.0)] * num_heads
    for i in range(kernel):
        for j in range(kernel):
            offsets[i + kernel * j] = (j - center, i - center)
    return offsets


@register_token_mixer("gpsa")
class GatedPositionalSelfAttention(MultiHeadMixer):
    """GPSA (d'Ascoli et al. 2021, "ConViT", eq. 5): per head,
    `A_h = (1 - sigmoid(lambda_h)) softmax(Q_h K_h^T / sqrt(d)) + sigmoid(lambda_h) softmax(v_h^T r_qk)`,
    renormalised over keys, then `A_h V_h`, heads concatenated, output projection.

    `r_qk = (dx, dy, dx^2 + dy^2)` (see `relative_position_features`); `pos_proj` holds `v_h` (and a bias that
    cancels in the softmax, kept for checkpoint compatibility); `gating_param` holds `lambda_h` (initialised to 1).
    Local initialisation (`local_position_weight`) sets `v_h = alpha * (2 dx_h, 2 dy_h, -1)`, so that
    `v_h^T r_qk = -alpha ||delta - Delta_h||^2 + const` peaks at the key offset `Delta_h` of head `h`: each head
    starts as one tap of a convolution kernel (Cordonnier et al. 2020). Query/key come from one `qk` projection and
    values from `v`, as in ConViT.

    Reads `hidden_size`, `num_attention_heads`, `qkv_bias`, `attention_probs_dropout_prob` from the config.
    Works on patch tokens only (no class token), at any grid size: the position features follow `grid_size`.

    Since both parts are row-stochastic, `A_h V_h = (1 - g_h) SDPA(Q_h, K_h, V_h) + g_h P_h V_h` (the reference's
    renormalisation is the identity up to rounding): by default the content part runs in the kernel that
    `attention_function(config)` names (SDPA) and no `B x H x N x N` matrix is formed. The explicit path (the
    attention maps are returned) runs for `output_attentions`, `attn_implementation="eager"` and attention dropout
    in training.
    """

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__(config)
        self.qk = nn.Linear(config.hidden_size, 2 * config.hidden_size, bias=config.qkv_bias)
        self.v = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.pos_proj = nn.Linear(3, self.num_heads)
        self.gating_param = nn.Parameter(torch.ones(self.num_heads))
        self.position_features_cache: dict[tuple, torch.Tensor] = {}

    def local_position_weight(self, locality_strength: float) -> torch.Tensor:
        """`pos_proj.weight` making each head a convolution tap: rows `alpha * (2 dx_h, 2 dy_h, -1)` (ConViT sec. 3)."""
        weight = torch.tensor([(2 * dx, 2 * dy, -1.0) for dx, dy in kernel_offsets(self.num_heads)])
        return weight.to(self.pos_proj.weight) * locality_strength

    def positional_gate(self) -> torch.Tensor:
        """`(heads,)` weight of the positional attention in each head's mix: `sigmoid(lambda_h)` (ConViT, eq. 5)."""
        return torch.sigmoid(self.gating_param)

    def positional_attention(self, grid_size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        """`softmax_k(v_h^T r_qk)` of shape `(1, heads, N, N)`: the same for every image of the batch."""
        key = (grid_size, self.pos_proj.weight.device, dtype)
        if key not in self.position_features_cache:
            self.position_features_cache[key] = relative_position_features(grid_size).to(key[1], dtype)
        features = self.position_features_cache[key]
        scores = self.pos_proj(features).permute(2, 0, 1)
        return scores.softmax(dim=-1).unsqueeze(0)

    def query_key(self, hidden_states: torch.Tensor, grid_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        seq_len = hidden_states.shape[1]
        if seq_len != grid_size[0] * grid_size[1]:
            raise ValueError(f"GPSA works on the {grid_size} patch grid only, got {seq_len} tokens")
        query, key = split_heads(self.qk(hidden_states), self.num_heads, parts=2)
        return query, key

    def attention(self, hidden_states: torch.Tensor, grid_size: tuple[int, int]) -> torch.Tensor:
        """The explicit `(B, heads, N, N)` GPSA attention (ConViT, eq. 5, renormalised over keys)."""
        query, key = self.query_key(hidden_states, grid_size)
        content = torch.softmax((query * self.scale) @ key.transpose(-2, -1), dim=-1)
        gate = self.positional_gate().view(1, -1, 1, 1)
        attention = (1.0 - gate) * content + gate * self.positional_attention(grid_size, content.dtype)
        return attention / attention.sum(dim=-1, keepdim=True)

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int], output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        (value,) = split_heads(self.v(hidden_states), self.num_heads)
        explicit = (
            output_attentions
            or self.config._attn_implementation == "eager"
            or (self.training and self.attention_dropout > 0)
        )
        attention = None
        if explicit:
            attention = self.attention(hidden_states, grid_size)
            context = F.dropout(attention, self.attention_dropout, self.training) @ value
        else:
            query, key = self.query_key(hidden_states, grid_size)
            gate = self.positional_gate().view(1, -1, 1, 1).to(value.dtype)
            attend = attention_function(self.config)
            content = attend(self, query, key, value, None, scaling=self.scale)[0].transpose(1, 2)
            positional = self.positional_attention(grid_size, value.dtype) @ value
            context = (1.0 - gate) * content + gate * positional
        context = merge_heads(context)
        return self.proj(context), attention
