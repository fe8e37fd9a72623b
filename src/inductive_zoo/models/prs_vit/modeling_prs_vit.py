"""PRS-ViT (Lee et al. 2022): convolution blocks reparameterized into self-attention on a per-layer schedule."""

from collections.abc import Iterable

import torch
from torch import nn
from transformers import initialization as init

# Imported to register "self_attention", the mixer of the blocks after the local ones.
from ...layers.mixers.attention import MultiHeadSelfAttention  # noqa: F401
from ...layers.mixers.reparameterizable_attention import ReparameterizableConvAttention
from ..skeleton.modeling_skeleton import (
    IsotropicForImageClassification,
    IsotropicForMaskedImageModeling,
    IsotropicModel,
)
from .configuration_prs_vit import PRSViTConfig


class PRSViTModel(IsotropicModel):
    """PRS-ViT backbone: `num_reparameterizable_layers` convolution/GPSA blocks on the patch tokens, then the class
    token joins and plain self-attention blocks follow (the ConViT layout, d'Ascoli et al. 2021).

    `reparameterize(layer_indices)` switches blocks from convolution to attention without changing the function
    (within float rounding; tested on CIFAR-10 images to a relative logit change below 1e-3); `layer_modes` lists
    every reparameterizable block's mode. Attention-only
    parameters (`qk`, `pos_proj`, `gating_param`) exist from the start, so an optimizer built at step 0 holds them;
    they get no gradient, hence no optimizer state, until their block switches.
    """

    config_class = PRSViTConfig
    has_attention_heads = True
    local_layers_field = "num_reparameterizable_layers"

    @classmethod
    def class_token_layer_for(cls, config: PRSViTConfig) -> int:
        return config.num_reparameterizable_layers

    @property
    def reparameterizable_mixers(self) -> list[ReparameterizableConvAttention]:
        return [layer.token_mixer for layer in self.layers[: self.config.num_reparameterizable_layers]]

    @property
    def layer_modes(self) -> list[str]:
        return [mixer.mode for mixer in self.reparameterizable_mixers]

    def reparameterize(self, layer_indices: Iterable[int]) -> list[int]:
        """Switches these blocks to attention mode; returns the ones that were convolutions until now."""
        mixers = self.reparameterizable_mixers
        switched = []
        for index in sorted(set(layer_indices)):
            if not 0 <= index < len(mixers):
                raise ValueError(f"layer {index} is not reparameterizable (0..{len(mixers) - 1})")
            if not mixers[index].is_attention:
                mixers[index].switch_to_attention()
                switched.append(index)
        return switched

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ReparameterizableConvAttention):
            module.reset_positional_attention()
            init.copy_(module.attention_mode, torch.tensor(module.layer_index in self.config.attention_layers))


class ReparameterizableBackboneMixin:
    """`layer_modes` and `reparameterize` of a model with a `PRSViTModel` as `backbone`, acting on the backbone (so
    that `PRSCallback` drives any PRS-ViT model, classifier or pre-training)."""

    backbone: PRSViTModel

    @property
    def layer_modes(self) -> list[str]:
        return self.backbone.layer_modes

    def reparameterize(self, layer_indices: Iterable[int]) -> list[int]:
        return self.backbone.reparameterize(layer_indices)


class PRSViTForImageClassification(ReparameterizableBackboneMixin, IsotropicForImageClassification):
    """`PRSViTModel` with a linear classifier; `reparameterize` and `layer_modes` act on the backbone."""

    config_class = PRSViTConfig
    backbone_class = PRSViTModel


class PRSViTForMaskedImageModeling(ReparameterizableBackboneMixin, IsotropicForMaskedImageModeling):
    """`PRSViTModel` pre-trained by masked patch reconstruction (see `IsotropicForMaskedImageModeling`);
    `reparameterize` and `layer_modes` act on the backbone, so `PRSCallback` schedules pre-training too. The loss
    reads the patch tokens; the class token that joins after the reparameterizable blocks takes no part."""

    config_class = PRSViTConfig
    backbone_class = PRSViTModel
