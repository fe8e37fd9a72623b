"""IBiT's attention masks: distance kernels over the patch grid, their relative layout, and rank-r fits.

A mask is stored in *relative* layout, row `q` holding the kernel over flattened offsets `j` (key `(q + j) mod N`),
and gathered back to absolute positions with a roll index (Giri 2025, reference `gen_rolls_and_masks.py`). With a
class token, row 0 (the class query) and column 0 (the class key) are in absolute layout and fitted to ones.
"""

from dataclasses import dataclass
from functools import lru_cache

import torch

KERNELS = ("exponential", "gaussian")


def distance_kernel(distance: torch.Tensor, kernel: str, scale: float, sigma: float) -> torch.Tensor:
    """`exp(-scale * d)` (the reference, scale 0.5) or the Gaussian `exp(-d^2 / (2 sigma^2))`."""
    if kernel == "exponential":
        return torch.exp(-scale * distance)
    if kernel == "gaussian":
        return torch.exp(-(distance**2) / (2 * sigma**2))
    raise ValueError(f"mask kernel must be one of {KERNELS}, got {kernel!r}")


def relative_target(
    grid_size: tuple[int, int], num_prefix_tokens: int, kernel: str, scale: float, sigma: float
) -> torch.Tensor:
    """The `(L, L)` relative-layout mask the factors are fitted to, `L = prefix + N`, in float64."""
    grid_h, grid_w = grid_size
    num_patches = grid_h * grid_w
    queries = torch.arange(num_patches).view(-1, 1)
    keys = (queries + torch.arange(num_patches).view(1, -1)) % num_patches
    dy = (keys // grid_w - queries // grid_w).double()
    dx = (keys % grid_w - queries % grid_w).double()
    patches = distance_kernel(torch.sqrt(dx**2 + dy**2), kernel, scale, sigma)
    if not num_prefix_tokens:
        return patches
    target = torch.ones(num_patches + 1, num_patches + 1, dtype=torch.float64)
    target[1:, 1:] = patches
    return target


def roll_index(num_patches: int, num_prefix_tokens: int, legacy_offset: bool = False) -> torch.Tensor:
    """`(L, L)` index gathering a relative-layout mask back to absolute keys: `mask[q, k] = rel[q, index[q, k]]`.

    Patch query `p`, patch key `k`: relative offset `(k - p) mod N`, at column `1 + (k - p) mod N` when a class
    token comes first. `legacy_offset=True` reproduces the reference code, which omits that `+ 1` and so centres
    every patch kernel one position to the right (its off-by-one); needed only to run converted checkpoints.
    """
    patches = torch.arange(num_patches)
    offsets = (patches.view(1, -1) - patches.view(-1, 1)) % num_patches
    if not num_prefix_tokens:
        return offsets
    index = torch.zeros(num_patches + 1, num_patches + 1, dtype=torch.long)
    index[0] = torch.arange(num_patches + 1)
    index[1:, 1:] = offsets if legacy_offset else offsets + 1
    return index


@dataclass(frozen=True)
class MaskFit:
    """Rank-r factors with `query_factors.T @ offset_factors ~ target` and the relative Frobenius error of the fit."""

    query_factors: torch.Tensor
    offset_factors: torch.Tensor
    relative_error: float


@lru_cache(maxsize=32)
def fit_distance_mask(
    grid_size: tuple[int, int],
    num_prefix_tokens: int,
    rank: int,
    kernel: str = "exponential",
    scale: float = 0.5,
    sigma: float = 1.0,
) -> MaskFit:
    """Fits rank-`rank` factors `A, B` (each `(rank, L)`) to the relative-layout distance kernel.

    The reference fits them with Adam on the MSE for 10,000 steps; we take the truncated SVD, which is the exact
    minimiser of that MSE (Eckart-Young), deterministic and instant: `A = sqrt(S_r) U_r^T`, `B = sqrt(S_r) V_r^T`.
    Results are cached per geometry and kernel, so building a model does not refit. Returns float32 factors.
    """
    if rank < 1:
        raise ValueError(f"mask_rank must be >= 1, got {rank}")
    target = relative_target(grid_size, num_prefix_tokens, kernel, scale, sigma)
    if rank > target.shape[0]:
        raise ValueError(f"mask_rank ({rank}) cannot exceed the sequence length ({target.shape[0]})")
    query_factors, offset_factors = low_rank_factors(target, rank)
    error = torch.linalg.norm(query_factors.T @ offset_factors - target) / torch.linalg.norm(target)
    return MaskFit(query_factors.float(), offset_factors.float(), float(error))


def low_rank_factors(matrix: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The best rank-`rank` factors `A, B` (each `(..., rank, L)`) with `A^T B ~ matrix` in Frobenius norm: the
    truncated SVD (Eckart-Young), `A = sqrt(S_r) U_r^T`, `B = sqrt(S_r) V_r^T`; batched over leading dimensions."""
    left, singular, right = torch.linalg.svd(matrix)
    root = singular[..., :rank].sqrt().unsqueeze(-1)
    return root * left[..., :rank].transpose(-1, -2), root * right[..., :rank, :]


def resample_relative_mask(
    relative: torch.Tensor, grid_size: tuple[int, int], new_grid_size: tuple[int, int], num_prefix_tokens: int
) -> torch.Tensor:
    """Relative-layout masks `(..., L, L)` over `grid_size` moved to `new_grid_size`, `(..., L', L')`.

    The masks are gathered to absolute layout (query patch x key patch), resampled bicubically over the key grid
    and then over the query grid (the class token's row and column over the patch grid; its own entry kept), and
    scattered back to the relative layout of the new grid. A distance kernel resampled this way stays a distance
    kernel in patch units of the old grid.
    """
    old_patches, new_patches = grid_size[0] * grid_size[1], new_grid_size[0] * new_grid_size[1]
    prefix = num_prefix_tokens
    absolute = torch.gather(relative, -1, roll_index(old_patches, prefix).expand_as(relative))

    def resize_last(values: torch.Tensor) -> torch.Tensor:
        """`(..., old_patches)` maps over the old grid -> `(..., new_patches)` over the new one."""
        leading = values.shape[:-1]
        maps = values.reshape(-1, 1, *grid_size)
        maps = torch.nn.functional.interpolate(maps, size=new_grid_size, mode="bicubic", align_corners=False)
        return maps.reshape(*leading, new_patches)

    patches = resize_last(absolute[..., prefix:, prefix:])
    patches = resize_last(patches.transpose(-1, -2)).transpose(-1, -2)
    length = prefix + new_patches
    resized = absolute.new_empty(*absolute.shape[:-2], length, length)
    resized[..., prefix:, prefix:] = patches
    if prefix:
        resized[..., 0, 0] = absolute[..., 0, 0]
        resized[..., 0, 1:] = resize_last(absolute[..., 0, 1:])
        resized[..., 1:, 0] = resize_last(absolute[..., 1:, 0])
    index = roll_index(new_patches, prefix).expand_as(resized)
    return torch.empty_like(resized).scatter_(-1, index, resized)
