"""CADA-ResNet (Arizumi 2022): ResNets with context-aware decomposed attention in place of 3x3 convolutions."""

from .configuration_cada_resnet import CADAResNetConfig
from .modeling_cada_resnet import (
    CADAResNetBottleneck,
    CADAResNetForImageClassification,
    CADAResNetForMaskedImageModeling,
    CADAResNetModel,
    CADAResNetPreTrainedModel,
    CADAResNetStem,
)

__all__ = [
    "CADAResNetBottleneck",
    "CADAResNetConfig",
    "CADAResNetForImageClassification",
    "CADAResNetForMaskedImageModeling",
    "CADAResNetModel",
    "CADAResNetPreTrainedModel",
    "CADAResNetStem",
]
