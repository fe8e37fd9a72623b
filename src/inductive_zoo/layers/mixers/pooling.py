"""PoolFormer's pooling token mixer."""

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedConfig

from .grid import grid_to_tokens, tokens_to_grid
from .registry import register_token_mixer


@register_token_mixer("pooling")
class PoolingMixer(nn.Module):
    """Average pooling minus the identity over the patch grid (PoolFormer, Yu et al. 2022, "MetaFormer is actually
    what you need for vision", eq. 4): `T' = AvgPool_k(T) - T`, a `k x k` window (`k = config.pool_size`, odd)
    with stride 1 and "same" padding whose padded positions are not counted (`count_include_pad=False`, as the
    paper's code), so a border token averages only its in-grid neighbours. The identity is subtracted because the
    block adds it back through its residual connection. No parameters; patch tokens only (no class token).
    """

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__()
        self.pool_size = config.pool_size

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int], output_attentions: bool = False
    ) -> tuple[torch.Tensor, None]:
        feature_map = tokens_to_grid(hidden_states, grid_size)
        pooled = F.avg_pool2d(
            feature_map, self.pool_size, stride=1, padding=self.pool_size // 2, count_include_pad=False
        )
        return grid_to_tokens(pooled - feature_map), None
