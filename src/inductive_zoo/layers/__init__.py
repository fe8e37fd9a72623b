"""Building blocks shared by every variant of the zoo: one implementation each."""

from .block import ResidualBlock
from .drop_path import DropPath
from .embeddings import ImageTokenEmbeddings
from .mixers import (
    TOKEN_MIXERS,
    ContextAwareDecomposedAttention,
    GatedPositionalSelfAttention,
    MultiHeadSelfAttention,
    kernel_offsets,
    relative_position_features,
)
from .mlp import Mlp
from .patch_embedding import PatchEmbedding
from .pixel_values import check_pixel_values
from .position_embedding import PositionEmbedding, sincos_2d_position_embedding

__all__ = [
    "TOKEN_MIXERS",
    "ContextAwareDecomposedAttention",
    "DropPath",
    "GatedPositionalSelfAttention",
    "ImageTokenEmbeddings",
    "Mlp",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "PositionEmbedding",
    "ResidualBlock",
    "check_pixel_values",
    "kernel_offsets",
    "relative_position_features",
    "sincos_2d_position_embedding",
]
