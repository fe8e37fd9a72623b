"""Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth")."""

import torch
from torch import nn


class DropPath(nn.Module):
    """Drops the whole residual branch per sample with probability `drop_prob` during training.

    Survivors are rescaled by `1 / (1 - drop_prob)` so the expected output is unchanged.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return hidden_states
        keep_prob = 1.0 - self.drop_prob
        shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
        keep = hidden_states.new_empty(shape).bernoulli_(keep_prob)
        return hidden_states * keep / keep_prob

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"
