"""IBiT's learned masked self-attention (Giri 2025)."""

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedConfig

from .attention import MultiHeadMixer, merge_heads, split_heads
from .distance_masks import low_rank_factors, resample_relative_mask, roll_index
from .registry import register_token_mixer


@register_token_mixer("learned_masked_attention")
class LearnedMaskedSelfAttention(MultiHeadMixer):
    """Learned masked self-attention, LMSA (Giri 2025; reference `IBiT/LMSA_layer.py`).

    Per head `h`: `S = Q K^T / sqrt(d)`, `M = S * gather(A_h^T B_h, roll)` (element-wise, no softmax),
    `A = M / (||M||_F + eps)` per image and head, `out = A V`; heads concatenated, output projection.
    `mask_query_factors` (`A`, `(heads, r, L)`) and `mask_offset_factors` (`B`) hold the mask in relative layout
    (see `distance_masks.roll_index`). The mask is tied to the configured grid: other image sizes are refused at
    call time; `set_grid_size` moves the layer to another grid for good (the model's `set_image_size`).
    Q, K, V come from one fused `qkv` projection (the reference has three; the converter concatenates them).
    """

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__(config)
        self.epsilon = config.mask_epsilon
        num_prefix = int(config.pooling == "cls")
        grid = config.image_size // config.patch_size
        self.grid_size = (grid, grid)
        self.sequence_length = config.num_patches + num_prefix
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        factors_shape = (self.num_heads, config.mask_rank, self.sequence_length)
        self.mask_query_factors = nn.Parameter(torch.zeros(factors_shape))
        self.mask_offset_factors = nn.Parameter(torch.zeros(factors_shape))
        index = roll_index(config.num_patches, num_prefix, legacy_offset=config.legacy_mask_roll)
        self.register_buffer("roll_index", index, persistent=False)

    @torch.no_grad()
    def set_grid_size(self, grid_size: tuple[int, int]) -> None:
        """Moves the learned masks to another patch grid: the rank-r masks are resampled over the grid
        (`distance_masks.resample_relative_mask`) and re-fitted to rank r by truncated SVD, per head (the one
        re-fit: a resampled rank-r mask is in general not of rank r in the new relative layout).

        Raises:
            ValueError: the layer uses the reference code's shifted roll (`legacy_mask_roll`, converted
                checkpoints), whose layout cannot be resampled.
        """
        if grid_size == self.grid_size:
            return
        if self.config.legacy_mask_roll:
            raise ValueError(
                "this IBiT uses the reference code's shifted mask layout (legacy_mask_roll=True, a converted "
                "checkpoint), which cannot be resampled to another image size; fine-tune it at its own image_size"
            )
        num_prefix = self.sequence_length - self.grid_size[0] * self.grid_size[1]
        relative = (self.mask_query_factors.transpose(-1, -2) @ self.mask_offset_factors).double()
        resized = resample_relative_mask(relative, self.grid_size, grid_size, num_prefix)
        query_factors, offset_factors = low_rank_factors(resized, self.mask_query_factors.shape[1])
        dtype = self.mask_query_factors.dtype
        self.mask_query_factors = nn.Parameter(query_factors.to(dtype))
        self.mask_offset_factors = nn.Parameter(offset_factors.to(dtype))
        num_patches = grid_size[0] * grid_size[1]
        self.roll_index = roll_index(num_patches, num_prefix).to(self.roll_index.device)
        self.sequence_length = num_patches + num_prefix
        self.grid_size = grid_size

    def mask(self) -> torch.Tensor:
        """The `(heads, L, L)` masks in absolute layout."""
        relative = self.mask_query_factors.transpose(-1, -2) @ self.mask_offset_factors
        return torch.gather(relative, -1, self.roll_index.expand_as(relative))

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int] | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        seq_len = hidden_states.shape[1]
        if seq_len != self.sequence_length:
            raise ValueError(
                f"IBiT's attention masks are built for {self.sequence_length} tokens (the configured image_size) but "
                f"got {seq_len}; it cannot run at another image size"
            )
        query, key, value = split_heads(self.qkv(hidden_states), self.num_heads, parts=3)
        masked = ((query * self.scale) @ key.transpose(-2, -1)) * self.mask()
        denominator = torch.linalg.matrix_norm(masked, keepdim=True) + self.epsilon
        attention = None
        if output_attentions or (self.training and self.attention_dropout > 0):
            attention = masked / denominator
            context = F.dropout(attention, self.attention_dropout, self.training) @ value
        else:
            # (M V) / ||M|| divides a (L, d) product instead of the (L, L) map: the same result, less work.
            context = (masked @ value) / denominator
        output = self.proj(merge_heads(context))
        if self.config.double_output_projection:
            output = self.proj(output)
        return output, attention if output_attentions else None
