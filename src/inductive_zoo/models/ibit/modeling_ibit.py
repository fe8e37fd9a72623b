"""IBiT (Giri 2025, "Utilizing Inductive Biases to Create a More Data Efficient Attention Mechanism")."""

import torch
from torch import nn
from transformers import initialization as init

from ...layers.block import ResidualBlock
from ...layers.mixers.distance_masks import MaskFit, fit_distance_mask, roll_index
from ...layers.mixers.learned_masked_attention import LearnedMaskedSelfAttention
from ..skeleton.modeling_skeleton import (
    IsotropicForImageClassification,
    IsotropicForMaskedImageModeling,
    IsotropicModel,
)
from .configuration_ibit import IBiTConfig


def mask_fit_for(config: IBiTConfig) -> MaskFit:
    """The (cached) rank-r fit of the configured distance kernel over the configured patch grid."""
    grid = config.image_size // config.patch_size
    return fit_distance_mask(
        (grid, grid),
        int(config.pooling == "cls"),
        config.mask_rank,
        config.mask_kernel,
        config.mask_kernel_scale,
        config.mask_kernel_sigma,
    )


class IBiTBlock(ResidualBlock):
    """The shared pre-norm block, with IBiT's reference variants as switches: residuals from the normalised input
    (`config.residual_from_normalized`) and stochastic depth on the attention branch only
    (`config.drop_path_on_mlp=False`). With the defaults it is exactly `ResidualBlock`."""

    def __init__(self, config: IBiTConfig, token_mixer: nn.Module, drop_path: float = 0.0) -> None:
        super().__init__(config, token_mixer, drop_path)
        self.residual_from_normalized = config.residual_from_normalized
        self.drop_path_on_mlp = config.drop_path_on_mlp

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int], output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        normed = self.norm1(hidden_states)
        mixed, attention = self.token_mixer(normed, grid_size=grid_size, output_attentions=output_attentions)
        residual = normed if self.residual_from_normalized else hidden_states
        hidden_states = residual + self.drop_path(self.dropout(mixed))
        normed = self.norm2(hidden_states)
        residual = normed if self.residual_from_normalized else hidden_states
        update = self.dropout(self.mlp(normed))
        return residual + (self.drop_path(update) if self.drop_path_on_mlp else update), attention


class IBiTModel(IsotropicModel):
    """IBiT backbone: LMSA blocks on the isotropic skeleton. A fresh model starts with every head's mask fitted to
    the distance kernel (convolution-like); `output_attentions` returns the normalised masked attention maps."""

    config_class = IBiTConfig
    block_class = IBiTBlock
    has_attention_heads = True
    runs_at_any_image_size = False  # the learned masks are tied to the configured grid
    _no_split_modules = ["ImageTokenEmbeddings", "IBiTBlock"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, LearnedMaskedSelfAttention):
            fit = mask_fit_for(self.config)
            shape = module.mask_query_factors.shape
            init.copy_(module.mask_query_factors, fit.query_factors.expand(shape))
            init.copy_(module.mask_offset_factors, fit.offset_factors.expand(shape))
            num_prefix = int(self.config.pooling == "cls")
            index = roll_index(self.config.num_patches, num_prefix, legacy_offset=self.config.legacy_mask_roll)
            init.copy_(module.roll_index, index)


class IBiTForImageClassification(IsotropicForImageClassification):
    """`IBiTModel` with a linear classifier on the class token."""

    config_class = IBiTConfig
    backbone_class = IBiTModel
    _no_split_modules = ["ImageTokenEmbeddings", "IBiTBlock"]


class IBiTForMaskedImageModeling(IsotropicForMaskedImageModeling):
    """`IBiTModel` pre-trained by masked patch reconstruction (see `IsotropicForMaskedImageModeling`)."""

    config_class = IBiTConfig
    backbone_class = IBiTModel
    _no_split_modules = ["ImageTokenEmbeddings", "IBiTBlock"]
