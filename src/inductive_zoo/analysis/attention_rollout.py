"""Attention rollout (Abnar & Zuidema 2020): how much each input patch flows into the class token (or the image)."""

from collections.abc import Sequence

import torch


def _pad_prefix(attention: torch.Tensor, length: int) -> torch.Tensor:
    """Lifts a patches-only `(B, n, n)` map to `(B, length, length)`, the missing prefix tokens kept as identity.

    ConViT/PRS-ViT attend over patches only before the class token joins; the class token then just carries itself.
    """
    missing = length - attention.shape[-1]
    if missing == 0:
        return attention
    lifted = torch.zeros(attention.shape[0], length, length, dtype=attention.dtype, device=attention.device)
    lifted[:, missing:, missing:] = attention
    lifted[:, :missing, :missing] = torch.eye(missing, dtype=attention.dtype, device=attention.device)
    return lifted


def attention_rollout(
    attentions: Sequence[torch.Tensor], head_fusion: str = "mean", residual_weight: float = 0.5
) -> torch.Tensor:
    """Rolls per-layer maps `(B, heads, L_l, L_l)` into one `(B, L, L)` input-to-output flow.

    Per layer: fuse heads (`"mean"` or `"max"`) of the absolute maps (IBiT's maps are signed and not
    row-stochastic, so we take magnitudes - our choice), mix in the residual path
    `residual_weight * I + (1 - residual_weight) * A`, renormalise rows to sum to one, multiply from the first
    layer on. Layers whose maps cover fewer tokens (before a late class token) are lifted with `_pad_prefix`.
    """
    if not attentions:
        raise ValueError("attention_rollout needs at least one attention map (run the model with output_attentions)")
    if head_fusion not in ("mean", "max"):
        raise ValueError(f"head_fusion must be 'mean' or 'max', got {head_fusion!r}")
    length = max(attention.shape[-1] for attention in attentions)
    rollout = None
    for attention in attentions:
        magnitude = attention.detach().abs().float()
        fused = magnitude.mean(dim=1) if head_fusion == "mean" else magnitude.amax(dim=1)
        fused = _pad_prefix(fused, length)
        identity = torch.eye(length, device=fused.device)
        mixed = residual_weight * identity + (1 - residual_weight) * fused
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        rollout = mixed if rollout is None else mixed @ rollout
    return rollout


def rollout_heatmap(
    attentions: Sequence[torch.Tensor], grid_size: tuple[int, int], num_prefix_tokens: int, **rollout_kwargs
) -> torch.Tensor:
    """A `(B, grid_h, grid_w)` heat map in `[0, 1]`: the class token's rolled-out attention to each patch, or, with
    no class token, the mean over all tokens. Upsample it to the image with `torch.nn.functional.interpolate`."""
    rollout = attention_rollout(attentions, **rollout_kwargs)
    flow = rollout[:, 0] if num_prefix_tokens else rollout.mean(dim=1)
    patches = flow[:, num_prefix_tokens:].reshape(-1, *grid_size)
    low = patches.amin(dim=(1, 2), keepdim=True)
    high = patches.amax(dim=(1, 2), keepdim=True)
    return (patches - low) / (high - low).clamp_min(1e-12)
