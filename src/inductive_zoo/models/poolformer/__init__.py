"""IsoPoolFormer (Yu et al. 2022): average pooling as the token mixer, on the isotropic skeleton."""

from .configuration_poolformer import IsoPoolFormerConfig
from .modeling_poolformer import (
    IsoPoolFormerForImageClassification,
    IsoPoolFormerForMaskedImageModeling,
    IsoPoolFormerModel,
)

__all__ = [
    "IsoPoolFormerConfig",
    "IsoPoolFormerForImageClassification",
    "IsoPoolFormerForMaskedImageModeling",
    "IsoPoolFormerModel",
]
