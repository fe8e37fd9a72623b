"""MLP-Mixer's token-mixing MLP."""

import torch
from torch import nn
from transformers import PreTrainedConfig

from ..mlp import Mlp
from .registry import register_token_mixer


@register_token_mixer("token_mixing_mlp")
class TokenMixingMLP(nn.Module):
    """MLP-Mixer's token-mixing MLP (Tolstikhin et al. 2021, eq. 1): an MLP applied across the sequence, shared
    over channels. Its weights are tied to sequence positions, so the sequence length is fixed by the config
    (`num_patches`, plus the class token with `pooling="cls"`; hidden width `token_mixing_hidden_size`)."""

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__()
        self.num_patches = config.num_patches
        self.sequence_length = config.num_patches + (1 if config.pooling == "cls" else 0)
        self.mlp = Mlp(self.sequence_length, config.token_mixing_hidden_size, config.hidden_act)

    def set_grid_size(self, grid_size: tuple[int, int]) -> None:
        """Refuses another grid: the MLP has one weight per token position.

        Raises:
            ValueError: `grid_size` is not the configured grid.
        """
        length = grid_size[0] * grid_size[1] + self.sequence_length - self.num_patches
        if length != self.sequence_length:
            raise ValueError(
                f"IsoMixer's token-mixing MLP has one weight per token position ({self.sequence_length} tokens), so "
                f"a trained IsoMixer cannot move to a {grid_size[0]}x{grid_size[1]} patch grid; resize the images to "
                "the model's image_size instead, or train a new IsoMixer at that size (from_preset(..., "
                "image_size=...))"
            )

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int] | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, None]:
        if hidden_states.shape[1] != self.sequence_length:
            raise ValueError(
                f"IsoMixer's token-mixing MLP is built for {self.sequence_length} tokens (the configured image_size) "
                f"but got {hidden_states.shape[1]}; it cannot run at another image size"
            )
        return self.mlp(hidden_states.transpose(1, 2)).transpose(1, 2), None
