"""Where attention looks: the mass outside each query's neighbourhood and the mean attention distance (the measure
ConViT, d'Ascoli et al. 2021, fig. 3, and DeiT/ViT analyses plot), on `(batch, heads, N, N)` maps over a patch grid.

Maps are read as magnitudes normalised per query row (`|A_qk| / sum_k |A_qk|`), so signed maps (IBiT's learned
masks, a PRS-ViT content weight outside [0, 1]) are measured the same way as softmax maps (our choice)."""

import torch


def patch_offsets(grid_size: tuple[int, int], device: torch.device | None = None) -> torch.Tensor:
    """`(N, N, 2)` offsets `(dy, dx)` from each query patch to each key patch of a raster-ordered grid."""
    rows, cols = torch.meshgrid(
        torch.arange(grid_size[0], device=device), torch.arange(grid_size[1], device=device), indexing="ij"
    )
    positions = torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=-1).float()
    return positions[None, :, :] - positions[:, None, :]


def _patch_weights(attention: torch.Tensor, grid_size: tuple[int, int]) -> torch.Tensor:
    """The patch-to-patch part of `(B, H, L, L)` maps (prefix tokens such as a class token come first), as row
    distributions of magnitudes."""
    num_patches = grid_size[0] * grid_size[1]
    if attention.ndim != 4 or attention.shape[-1] < num_patches or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(
            f"attention maps of shape (batch, heads, L, L) with L >= {num_patches} patches expected, "
            f"got {tuple(attention.shape)}"
        )
    weights = attention[..., -num_patches:, -num_patches:].detach().abs().float()
    return weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def attention_mass_outside(attention: torch.Tensor, grid_size: tuple[int, int], radius: int = 1) -> float:
    """Mean over images, heads and patch queries of the attention mass on keys outside the query's
    `(2 radius + 1)^2` neighbourhood (3x3 for `radius=1`)."""
    weights = _patch_weights(attention, grid_size)
    outside = patch_offsets(grid_size, weights.device).abs().amax(dim=-1) > radius
    return (weights * outside).sum(dim=-1).mean().item()


def mean_attention_distance(attention: torch.Tensor, grid_size: tuple[int, int]) -> float:
    """Mean over images, heads and patch queries of the attention-weighted Euclidean distance, in patches, from
    the query to its keys."""
    weights = _patch_weights(attention, grid_size)
    distance = patch_offsets(grid_size, weights.device).norm(dim=-1)
    return (weights * distance).sum(dim=-1).mean().item()
