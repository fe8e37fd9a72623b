"""The isotropic family of Cazenavette & Lucey (2021): IsoTransformer, IsoMixer, IsoConvNet."""

from .configuration_isotropic import IsoConvNetConfig, IsoMixerConfig, IsoTransformerConfig
from .modeling_isotropic import (
    DepthwiseConvMixer,
    IsoConvNetForImageClassification,
    IsoConvNetModel,
    IsoMixerForImageClassification,
    IsoMixerModel,
    IsoTransformerForImageClassification,
    IsoTransformerModel,
    TokenMixingMLP,
)

__all__ = [
    "DepthwiseConvMixer",
    "IsoConvNetConfig",
    "IsoConvNetForImageClassification",
    "IsoConvNetModel",
    "IsoMixerConfig",
    "IsoMixerForImageClassification",
    "IsoMixerModel",
    "IsoTransformerConfig",
    "IsoTransformerForImageClassification",
    "IsoTransformerModel",
    "TokenMixingMLP",
]
