"""IBiT (Giri 2025): learned masked self-attention with masks initialised to distance kernels."""

from .configuration_ibit import IBiTConfig
from .masks import MaskFit, fit_distance_mask, roll_index
from .modeling_ibit import (
    IBiTForImageClassification,
    IBiTForMaskedImageModeling,
    IBiTModel,
    LearnedMaskedSelfAttention,
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
