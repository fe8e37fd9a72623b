"""ConViT (d'Ascoli et al. 2021, "ConViT: Improving Vision Transformers with Soft Convolutional Inductive Biases")."""

import torch
from torch import nn
from transformers import initialization as init

# Imported to register "self_attention", the mixer of the blocks after the local ones.
from ...layers.mixers.attention import MultiHeadSelfAttention  # noqa: F401
from ...layers.mixers.positional_attention import GatedPositionalSelfAttention
from ..skeleton.modeling_skeleton import (
    IsotropicForImageClassification,
    IsotropicForMaskedImageModeling,
    IsotropicModel,
)
from .configuration_convit import ConViTConfig


def init_gated_positional_attention(module: GatedPositionalSelfAttention, config: ConViTConfig) -> None:
    """ConViT's local initialisation (reference `GPSA.local_init`): convolution-tap positional scores with
    strength `config.locality_strength`, gates `lambda_h = 1`, and the identity as value projection."""
    init.ones_(module.gating_param)
    if config.use_local_init:
        init.copy_(module.pos_proj.weight, module.local_position_weight(config.locality_strength))
        init.zeros_(module.pos_proj.bias)
        init.copy_(module.v.weight, torch.eye(config.hidden_size, dtype=module.v.weight.dtype))


class ConViTModel(IsotropicModel):
    """ConViT backbone: `local_up_to_layer` GPSA blocks on the patch tokens, then the class token joins and plain
    self-attention blocks follow. `output_attentions` returns every block's maps (GPSA maps are over patches only)."""

    config_class = ConViTConfig
    has_attention_heads = True
    local_layers_field = "local_up_to_layer"

    @classmethod
    def class_token_layer_for(cls, config: ConViTConfig) -> int:
        return config.local_up_to_layer

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, GatedPositionalSelfAttention):
            init_gated_positional_attention(module, self.config)


class ConViTForImageClassification(IsotropicForImageClassification):
    """`ConViTModel` with a linear classifier on the class token (or the mean of the tokens)."""

    config_class = ConViTConfig
    backbone_class = ConViTModel


class ConViTForMaskedImageModeling(IsotropicForMaskedImageModeling):
    """`ConViTModel` pre-trained by masked patch reconstruction (see `IsotropicForMaskedImageModeling`); the loss
    reads the patch tokens, the class token that joins after the GPSA blocks takes no part."""

    config_class = ConViTConfig
    backbone_class = ConViTModel
