"""Token sequences as feature maps and back, for the mixers that work on the patch grid."""

import torch


def tokens_to_grid(hidden_states: torch.Tensor, grid_size: tuple[int, int]) -> torch.Tensor:
    """`(batch, N, channels)` patch tokens in raster order as a `(batch, channels, height, width)` map."""
    batch_size, _, channels = hidden_states.shape
    return hidden_states.transpose(1, 2).reshape(batch_size, channels, *grid_size)


def grid_to_tokens(feature_map: torch.Tensor) -> torch.Tensor:
    """The inverse of `tokens_to_grid`."""
    return feature_map.flatten(2).transpose(1, 2)
