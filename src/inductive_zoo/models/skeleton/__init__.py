"""The isotropic skeleton shared by the token-based variants of the zoo."""

from .configuration_skeleton import IsotropicConfig
from .modeling_skeleton import (
    IsotropicForImageClassification,
    IsotropicForMaskedImageModeling,
    IsotropicModel,
    IsotropicPreTrainedModel,
)

__all__ = [
    "IsotropicConfig",
    "IsotropicForImageClassification",
    "IsotropicForMaskedImageModeling",
    "IsotropicModel",
    "IsotropicPreTrainedModel",
]
