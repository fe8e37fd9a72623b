"""The isotropic family of Cazenavette & Lucey (2021): IsoTransformer, IsoMixer, IsoConvNet."""

from .configuration_isotropic import IsoConvNetConfig, IsoMixerConfig, IsoTransformerConfig
from .modeling_isotropic import (
    DepthwiseConvMixer,
    IsoConvNetForImageClassification,
    IsoConvNetForMaskedImageModeling,
    IsoConvNetModel,
    IsoMixerForImageClassification,
    IsoMixerForMaskedImageModeling,
    IsoMixerModel,
    IsoTransformerForImageClassification,
    IsoTransformerForMaskedImageModeling,
    IsoTransformerModel,
    TokenMixingMLP,
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
