"""IBiT (Giri 2025): learned masked self-attention with masks initialised to distance kernels."""

from ...layers.mixers.distance_masks import MaskFit, fit_distance_mask, roll_index
from ...layers.mixers.learned_masked_attention import LearnedMaskedSelfAttention
from .configuration_ibit import IBiTConfig
from .modeling_ibit import (
    IBiTForImageClassification,
    IBiTForMaskedImageModeling,
    IBiTModel,
)

__all__ = [
    "IBiTConfig",
    "IBiTForImageClassification",
    "IBiTForMaskedImageModeling",
    "IBiTModel",
    "LearnedMaskedSelfAttention",
    "MaskFit",
    "fit_distance_mask",
    "roll_index",
]
