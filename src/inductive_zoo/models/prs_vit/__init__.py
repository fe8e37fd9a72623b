"""PRS-ViT (Lee et al. 2022): progressive reparameterization of convolutions into self-attention."""

from ...layers.mixers.reparameterizable_attention import ReparameterizableConvAttention
from .configuration_prs_vit import PRSViTConfig
from .modeling_prs_vit import (
    PRSViTForImageClassification,
    PRSViTForMaskedImageModeling,
    PRSViTModel,
)

__all__ = [
    "PRSViTConfig",
    "PRSViTForImageClassification",
    "PRSViTForMaskedImageModeling",
    "PRSViTModel",
    "ReparameterizableConvAttention",
]
