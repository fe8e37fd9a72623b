"""The isotropic family (Cazenavette & Lucey 2021): three token mixers on one skeleton, with classification and
masked-image-modeling heads."""

import torch
from torch import nn

from ...layers.attention import MultiHeadSelfAttention
from ...layers.mlp import Mlp
from ..skeleton.modeling_skeleton import (
    IsotropicForImageClassification,
    IsotropicForMaskedImageModeling,
    IsotropicModel,
)
from .configuration_isotropic import IsoConvNetConfig, IsoMixerConfig, IsoTransformerConfig


class TokenMixingMLP(nn.Module):
    """MLP-Mixer's token-mixing MLP (Tolstikhin et al. 2021, eq. 1): an MLP applied across the sequence, shared
    over channels. Its weights are tied to sequence positions, so the sequence length is fixed by the config."""

    def __init__(self, config: IsoMixerConfig) -> None:
        super().__init__()
        self.sequence_length = config.num_patches + (1 if config.pooling == "cls" else 0)
        self.mlp = Mlp(self.sequence_length, config.token_mixing_hidden_size, config.hidden_act)

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int] | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, None]:
        if hidden_states.shape[1] != self.sequence_length:
            raise ValueError(
                f"IsoMixer's token-mixing MLP is built for {self.sequence_length} tokens (the configured image_size) "
                f"but got {hidden_states.shape[1]}; it cannot run at another image size"
            )
        return self.mlp(hidden_states.transpose(1, 2)).transpose(1, 2), None


class DepthwiseConvMixer(nn.Module):
    """A `k x k` depthwise convolution over the patch grid with zero "same" padding (ConvMixer, Trockman & Kolter
    2022, eq. 2, without its activation and BatchNorm: the surrounding pre-norm block supplies normalisation)."""

    def __init__(self, config: IsoConvNetConfig) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            config.hidden_size,
            config.hidden_size,
            config.kernel_size,
            padding=config.kernel_size // 2,
            groups=config.hidden_size,
        )

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int], output_attentions: bool = False
    ) -> tuple[torch.Tensor, None]:
        batch_size, _, channels = hidden_states.shape
        grid = hidden_states.transpose(1, 2).reshape(batch_size, channels, *grid_size)
        return self.conv(grid).flatten(2).transpose(1, 2), None


class IsoTransformerModel(IsotropicModel):
    """Isotropic vision transformer backbone: multi-head self-attention token mixer (ViT, Dosovitskiy et al. 2021)."""

    config_class = IsoTransformerConfig
    token_mixer_class = MultiHeadSelfAttention


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
    token_mixer_class = TokenMixingMLP


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
    token_mixer_class = DepthwiseConvMixer


class IsoConvNetForImageClassification(IsotropicForImageClassification):
    """`IsoConvNetModel` with a linear classifier on the mean-pooled tokens."""

    config_class = IsoConvNetConfig
    backbone_class = IsoConvNetModel


class IsoConvNetForMaskedImageModeling(IsotropicForMaskedImageModeling):
    """`IsoConvNetModel` pre-trained by masked patch reconstruction (see `IsotropicForMaskedImageModeling`)."""

    config_class = IsoConvNetConfig
    backbone_class = IsoConvNetModel
