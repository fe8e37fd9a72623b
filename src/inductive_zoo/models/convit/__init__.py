"""ConViT (d'Ascoli et al. 2021): gated positional self-attention, the zoo's soft-convolution baseline."""

from .configuration_convit import ConViTConfig
from .modeling_convit import ConViTForImageClassification, ConViTForMaskedImageModeling, ConViTModel

__all__ = ["ConViTConfig", "ConViTForImageClassification", "ConViTForMaskedImageModeling", "ConViTModel"]
