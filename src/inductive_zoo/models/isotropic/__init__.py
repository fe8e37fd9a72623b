"""The isotropic family of Cazenavette & Lucey (2021): IsoTransformer, IsoMixer, IsoConvNet."""

from ...layers.mixers.depthwise_conv import DepthwiseConvMixer
from ...layers.mixers.token_mixing_mlp import TokenMixingMLP
from .configuration_isotropic import IsoConvNetConfig, IsoMixerConfig, IsoTransformerConfig
from .modeling_isotropic import (
    IsoConvNetForImageClassification,
    IsoConvNetForMaskedImageModeling,
    IsoConvNetModel,
    IsoMixerForImageClassification,
    IsoMixerForMaskedImageModeling,
    IsoMixerModel,
    IsoTransformerForImageClassification,
    IsoTransformerForMaskedImageModeling,
    IsoTransformerModel,
)

__all__ = [
    "DepthwiseConvMixer",
    "IsoConvNetConfig",
    "IsoConvNetForImageClassification",
    "IsoConvNetForMaskedImageModeling",
    "IsoConvNetModel",
    "IsoMixerConfig",
    "IsoMixerForImageClassification",
    "IsoMixerForMaskedImageModeling",
    "IsoMixerModel",
    "IsoTransformerConfig",
    "IsoTransformerForImageClassification",
    "IsoTransformerForMaskedImageModeling",
    "IsoTransformerModel",
    "TokenMixingMLP",
]
