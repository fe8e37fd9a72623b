"""The two-layer MLP used as channel MLP in every block (and as token-mixing MLP in MLP-Mixer)."""

import torch
from torch import nn
from transformers.activations import ACT2FN


class Mlp(nn.Module):
    """`fc2(dropout(act(fc1(x))))`, acting on the last dimension (Vaswani et al. 2017, eq. 2)."""

    def __init__(self, in_features: int, hidden_features: int, activation: str = "gelu", dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.activation = ACT2FN[activation]
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.activation(self.fc1(hidden_states))))
