"""Position embeddings for a patch grid: none, learned, or fixed 2-D sine-cosine; all follow other image sizes."""

import math

import torch
from torch import nn


def sincos_2d_position_embedding(
    grid_size: tuple[int, int], hidden_size: int, temperature: float = 10000.0
) -> torch.Tensor:
    """Fixed 2-D sine-cosine embedding of shape `(grid_h * grid_w, hidden_size)`, rows in raster order.

    A quarter of the channels encodes each of `sin(y)`, `cos(y)`, `sin(x)`, `cos(x)` at geometric frequencies
    (Vaswani et al. 2017, sec. 3.5, applied per axis as in MAE, He et al. 2022). `hidden_size` must be a multiple of 4.
    """
    if hidden_size % 4:
        raise ValueError(f"a 2-D sin-cos position embedding needs hidden_size divisible by 4, got {hidden_size}")
    grid_h, grid_w = grid_size
    y, x = torch.meshgrid(
        torch.arange(grid_h, dtype=torch.float32), torch.arange(grid_w, dtype=torch.float32), indexing="ij"
    )
    quarter = hidden_size // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    y = y.reshape(-1, 1) * omega
    x = x.reshape(-1, 1) * omega
    return torch.cat([y.sin(), y.cos(), x.sin(), x.cos()], dim=1)


def sequence_sincos_position_embedding(sequence_length: int, hidden_size: int) -> torch.Tensor:
    """Fixed 1-D sine-cosine embedding over a whole token sequence, shape `(sequence_length, hidden_size)`.

    IBiT's reference code (`PositionalEncodingAdd`, Giri 2025): positions `0..L-1` (the class token is position 0),
    frequencies `exp(-linspace(0, ceil(ln L), hidden_size / 2))`, `[sin | cos]`.
    """
    positions = torch.arange(sequence_length, dtype=torch.float32).view(-1, 1)
    frequencies = torch.exp(-torch.linspace(0, math.ceil(math.log(sequence_length)), hidden_size // 2)).view(1, -1)
    angles = positions @ frequencies
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class PositionEmbedding(nn.Module):
    """Adds position information to `num_prefix_tokens` prefix tokens followed by a raster of patch tokens.

    - `"none"`: nothing is added (a bag of patches; translation equivariant apart from the borders).
    - `"learned"`: a free parameter per position, as ViT; for other grids the patch part is resized bicubically
      (as transformers' `ViTEmbeddings.interpolate_pos_encoding`).
    - `"sincos"`: fixed 2-D sine-cosine, recomputed exactly for other grids; prefix tokens get no position.
    - `"sequence_sincos"`: fixed 1-D sine-cosine over the whole sequence, prefix tokens first (IBiT's reference).

    The sine-cosine tables are non-persistent buffers: derived from the config, never stored in checkpoints.
    """

    def __init__(self, kind: str, hidden_size: int, grid_size: tuple[int, int], num_prefix_tokens: int) -> None:
        super().__init__()
        self.kind = kind
        self.hidden_size = hidden_size
        self.grid_size = grid_size
        self.num_prefix_tokens = num_prefix_tokens
        num_positions = grid_size[0] * grid_size[1]
        if kind == "learned":
            self.weight = nn.Parameter(torch.zeros(1, num_prefix_tokens + num_positions, hidden_size))
        elif kind in ("sincos", "sequence_sincos"):
            self.register_buffer("table", self.sincos_table(grid_size), persistent=False)

    def sincos_table(self, grid_size: tuple[int, int]) -> torch.Tensor:
        if self.kind == "sequence_sincos":
            length = self.num_prefix_tokens + grid_size[0] * grid_size[1]
            return sequence_sincos_position_embedding(length, self.hidden_size).unsqueeze(0)
        table = sincos_2d_position_embedding(grid_size, self.hidden_size)
        prefix = table.new_zeros(self.num_prefix_tokens, self.hidden_size)
        return torch.cat([prefix, table]).unsqueeze(0)

    def embedding_for(self, grid_size: tuple[int, int]) -> torch.Tensor | None:
        """The `(1, prefix + grid_h * grid_w, hidden_size)` embedding for a grid, resized when it differs."""
        if self.kind == "none":
            return None
        if self.kind in ("sincos", "sequence_sincos"):
            if grid_size == self.grid_size:
                return self.table
            return self.sincos_table(grid_size).to(self.table)
        if grid_size == self.grid_size:
            return self.weight
        prefix, patches = self.weight[:, : self.num_prefix_tokens], self.weight[:, self.num_prefix_tokens :]
        patches = patches.reshape(1, *self.grid_size, self.hidden_size).permute(0, 3, 1, 2)
        patches = nn.functional.interpolate(patches, size=grid_size, mode="bicubic", align_corners=False)
        patches = patches.permute(0, 2, 3, 1).reshape(1, -1, self.hidden_size)
        return torch.cat([prefix, patches], dim=1)

    def set_grid_size(self, grid_size: tuple[int, int]) -> None:
        """Moves the embedding to another patch grid for good, keeping what was learned: a learned table is
        resampled bicubically over the grid (as `embedding_for`; timm's `resample_abs_pos_embed`), prefix tokens
        kept; a fixed table is recomputed for the new grid."""
        if grid_size == self.grid_size:
            return
        if self.kind == "learned":
            self.weight = nn.Parameter(self.embedding_for(grid_size).detach().clone())
        elif self.kind in ("sincos", "sequence_sincos"):
            self.table = self.sincos_table(grid_size).to(self.table)
        self.grid_size = grid_size

    def forward(self, embeddings: torch.Tensor, grid_size: tuple[int, int]) -> torch.Tensor:
        position = self.embedding_for(grid_size)
        return embeddings if position is None else embeddings + position

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, grid_size={self.grid_size}, num_prefix_tokens={self.num_prefix_tokens}"
