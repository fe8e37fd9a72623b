"""FastConvNet, the strong small-convnet baseline the zoo's models are measured against (registered with the Auto
classes, but not a variant: it has no manifest, so no zoo recipe, release or card)."""

from .configuration_fast_convnet import FastConvNetConfig
from .modeling_fast_convnet import FastConvNetForImageClassification, FastConvNetModel

__all__ = ["FastConvNetConfig", "FastConvNetForImageClassification", "FastConvNetModel"]
