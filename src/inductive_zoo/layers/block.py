"""The pre-norm residual block with a pluggable token mixer, shared by every isotropic variant."""

import torch
from torch import nn
from transformers import PreTrainedConfig
from transformers.modeling_layers import GradientCheckpointingLayer

from .drop_path import DropPath
from .mlp import Mlp


class ResidualBlock(GradientCheckpointingLayer):
    """`x + DropPath(mixer(LN(x)))`, then `x + DropPath(MLP(LN(x)))` (pre-norm transformer block, Xiong et al. 2020).

    The token mixer is any module with `forward(hidden_states, grid_size=..., output_attentions=...)` returning
    `(mixed, attention_or_None)`: self-attention, a token-mixing MLP, a depthwise convolution, GPSA, ...
    Only the mixer differs between variants (the isotropic-skeleton view of Cazenavette & Lucey 2021).
    """

    def __init__(self, config: PreTrainedConfig, token_mixer: nn.Module, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.token_mixer = token_mixer
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = Mlp(config.hidden_size, config.intermediate_size, config.hidden_act, config.hidden_dropout_prob)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.drop_path = DropPath(drop_path)

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int], output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        mixed, attention = self.token_mixer(
            self.norm1(hidden_states), grid_size=grid_size, output_attentions=output_attentions
        )
        hidden_states = hidden_states + self.drop_path(self.dropout(mixed))
        hidden_states = hidden_states + self.drop_path(self.dropout(self.mlp(self.norm2(hidden_states))))
        return hidden_states, attention
