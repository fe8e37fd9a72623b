"""The isotropic family (Cazenavette & Lucey 2021): three token mixers on one skeleton, with classification and
masked-image-modeling heads."""

# The token mixers of the three variants, imported to register them under the names their configs give.
from ...layers.mixers.attention import MultiHeadSelfAttention  # noqa: F401
from ...layers.mixers.depthwise_conv import DepthwiseConvMixer  # noqa: F401
from ...layers.mixers.token_mixing_mlp import TokenMixingMLP  # noqa: F401
from ..skeleton.modeling_skeleton import (
    IsotropicForImageClassification,
    IsotropicForMaskedImageModeling,
    IsotropicModel,
)
from .configuration_isotropic import IsoConvNetConfig, IsoMixerConfig, IsoTransformerConfig


class IsoTransformerModel(IsotropicModel):
    """Isotropic vision transformer backbone: multi-head self-attention token mixer (ViT, Dosovitskiy et al. 2021)."""

    config_class = IsoTransformerConfig
    has_attention_heads = True


class IsoTransformerForImageClassification(IsotropicForImageClassification):
    """`IsoTransformerModel` with a linear classifier; loads transformers' ViT weights via `conversion.vit`."""

    config_class = IsoTransformerConfig
    backbone_class = IsoTransformerModel


class IsoTransformerForMaskedImageModeling(IsotropicForMaskedImageModeling):
    """`IsoTransformerModel` pre-trained by masked patch reconstruction (see `IsotropicForMaskedImageModeling`)."""

    config_class = IsoTransformerConfig
    backbone_class = IsoTransformerModel


class IsoMixerModel(IsotropicModel):
    """Isotropic MLP-Mixer backbone: token-mixing MLP token mixer (Tolstikhin et al. 2021)."""

    config_class = IsoMixerConfig
    runs_at_any_image_size = False  # the token-mixing MLP's weights are per token position
    supports_set_image_size = False


class IsoMixerForImageClassification(IsotropicForImageClassification):
    """`IsoMixerModel` with a linear classifier on the pooled tokens."""

    config_class = IsoMixerConfig
    backbone_class = IsoMixerModel


class IsoMixerForMaskedImageModeling(IsotropicForMaskedImageModeling):
    """`IsoMixerModel` pre-trained by masked patch reconstruction (see `IsotropicForMaskedImageModeling`)."""

    config_class = IsoMixerConfig
    backbone_class = IsoMixerModel


class IsoConvNetModel(IsotropicModel):
    """Isotropic convolutional backbone: depthwise convolution token mixer (ConvMixer-like, Trockman & Kolter 2022)."""

    config_class = IsoConvNetConfig
    supports_class_token = False


class IsoConvNetForImageClassification(IsotropicForImageClassification):
    """`IsoConvNetModel` with a linear classifier on the mean-pooled tokens."""

    config_class = IsoConvNetConfig
    backbone_class = IsoConvNetModel


class IsoConvNetForMaskedImageModeling(IsotropicForMaskedImageModeling):
    """`IsoConvNetModel` pre-trained by masked patch reconstruction (see `IsotropicForMaskedImageModeling`)."""

    config_class = IsoConvNetConfig
    backbone_class = IsoConvNetModel
