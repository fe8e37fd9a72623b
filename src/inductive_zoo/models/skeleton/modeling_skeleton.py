"""The isotropic skeleton as `PreTrainedModel`s: a backbone with a pluggable token mixer, a classification head and a
masked-image-modeling head."""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.utils import can_return_tuple

from ...layers.block import ResidualBlock
from ...layers.embeddings import ImageTokenEmbeddings
from ...layers.mixers.registry import create_token_mixer
from ...layers.pixel_values import check_pixel_values
from ...layers.position_embedding import PositionEmbedding
from ..capabilities import VariantCapabilities
from ..classification import classification_loss
from ..image_size import ImageSizeMixin
from ..loading import SafeLoadingMixin
from ..masked_image_modeling import (
    MaskedImageModelingMixin,
    MaskedImageModelingOutputWithMask,
    PixelShuffleDecoder,
)
from .configuration_skeleton import IsotropicConfig


class IsotropicPreTrainedModel(VariantCapabilities, SafeLoadingMixin, ImageSizeMixin, PreTrainedModel):
    """Weight initialisation and loading conventions shared by every isotropic variant.

    Weights: truncated normal (std `initializer_range`) for linear and convolution weights (the masked-image-modeling
    decoder's too), class token and learned position embedding; zeros for biases and the mask token; ones for norm
    scales (DeiT, Touvron et al. 2021).
    Every parameter and non-persistent buffer is (re)built here through `transformers.initialization`, because
    `from_pretrained` creates the modules on the meta device and only fills what the checkpoint holds.
    """

    config_class = IsotropicConfig
    base_model_prefix = "backbone"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    # Self-attention blocks also run transformers' other attention functions (`layers.mixers.attention`).
    _supports_flex_attn = True
    _supports_flash_attn = True
    _no_split_modules = ["ImageTokenEmbeddings", "ResidualBlock"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            init.trunc_normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, ImageTokenEmbeddings):
            if module.cls_token is not None:
                init.trunc_normal_(module.cls_token, mean=0.0, std=std)
            if module.mask_token is not None:
                init.zeros_(module.mask_token)
        elif isinstance(module, PixelShuffleDecoder):
            init.trunc_normal_(module.weight, mean=0.0, std=std)
            init.zeros_(module.bias)
        elif isinstance(module, PositionEmbedding):
            if module.kind == "learned":
                init.trunc_normal_(module.weight, mean=0.0, std=std)
            elif module.kind in ("sincos", "sequence_sincos"):
                init.copy_(module.table, module.sincos_table(module.grid_size))
        else:
            super()._init_weights(module)


def backbone_class_of(head: nn.Module) -> type["IsotropicModel"]:
    """The `backbone_class` of a head model.

    Raises:
        TypeError: the head is the skeleton's own (no `backbone_class`), not a variant's.
    """
    if not hasattr(head, "backbone_class"):
        raise TypeError(
            f"{type(head).__name__} is the skeleton's head without a backbone; build a variant's model "
            "(IsoTransformerForImageClassification, ConViTForMaskedImageModeling, ...) or set backbone_class"
        )
    return head.backbone_class


class IsotropicModel(IsotropicPreTrainedModel):
    """The backbone: `embeddings -> num_hidden_layers x ResidualBlock(token mixer) -> LayerNorm -> pooling`.

    Block `i` gets the registered token mixer `config.token_mixer_names()[i]` (`layers.mixers`; the variant's
    modeling module imports the mixer modules it uses, which registers them); `class_token_layer_for(config)`
    (0: with the embeddings, as ViT) is the index of the block before which the class token joins the patch tokens.
    Returns `BaseModelOutputWithPooling`: `last_hidden_state` after the final norm, `pooler_output` the class token
    or the mean of the tokens (`config.pooling`), `hidden_states` (embeddings, then each block's output) and
    `attentions` (for mixers that have attention maps) on request.
    """

    block_class: type[ResidualBlock] = ResidualBlock

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # The mixer API before the registry: a subclass using it would silently get the config's mixers instead.
        old = [name for name in ("token_mixer_class", "build_token_mixer") if name in vars(cls)]
        if old:
            raise TypeError(
                f"{cls.__name__} sets {old}, which the skeleton no longer reads: register the mixer with "
                "layers.mixers.register_token_mixer and name it in the config (token_mixer or token_mixer_names())"
            )

    def __init__(self, config: IsotropicConfig, use_mask_token: bool = False) -> None:
        super().__init__(config)
        self.class_token_layer = self.class_token_layer_for(config)
        self.embeddings = ImageTokenEmbeddings(
            config, use_mask_token=use_mask_token, class_token_at_input=self.class_token_layer == 0
        )
        rates = torch.linspace(0.0, config.drop_path_rate, config.num_hidden_layers).tolist()
        mixer_names = config.token_mixer_names()
        self.layers = nn.ModuleList(
            self.block_class(config, create_token_mixer(mixer_names[index], config, index), drop_path=rate)
            for index, rate in enumerate(rates)
        )
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.final_norm else nn.Identity()
        self.post_init()

    @classmethod
    def class_token_layer_for(cls, config: IsotropicConfig) -> int:
        return 0

    def pool(self, sequence_output: torch.Tensor) -> torch.Tensor:
        if self.config.pooling == "cls":
            return sequence_output[:, 0]
        return sequence_output.mean(dim=1)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        interpolate_pos_encoding: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        if pixel_values is None:
            raise ValueError("pixel_values is required")
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states

        check_pixel_values(pixel_values, self.config.num_channels)
        pixel_values = pixel_values.to(self.embeddings.patch_embedding.projection.weight.dtype)
        hidden_states, grid_size = self.embeddings(
            pixel_values, bool_masked_pos=bool_masked_pos, interpolate_pos_encoding=bool(interpolate_pos_encoding)
        )
        all_hidden_states = [hidden_states] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        for index, layer in enumerate(self.layers):
            if index == self.class_token_layer > 0 and self.embeddings.cls_token is not None:
                hidden_states = self.embeddings.prepend_class_token(hidden_states)
            hidden_states, attention = layer(hidden_states, grid_size=grid_size, output_attentions=output_attentions)
            if output_hidden_states:
                all_hidden_states.append(hidden_states)
            if output_attentions and attention is not None:
                all_attentions.append(attention)

        sequence_output = self.norm(hidden_states)
        output = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self.pool(sequence_output),
            hidden_states=tuple(all_hidden_states) if output_hidden_states else None,
            attentions=tuple(all_attentions) if all_attentions else None,
        )
        return output


class IsotropicForImageClassification(IsotropicPreTrainedModel):
    """A backbone with a linear classifier on its pooled output (ViT's head, Dosovitskiy et al. 2021, eq. 4).

    `forward_features` runs the backbone, `forward_head` the classifier (timm's split). With `labels`, the loss
    follows `config.problem_type` (cross-entropy for single-label classification); label ids outside
    `[0, num_labels)` raise `ValueError`. Extra keyword arguments go to the loss: `Trainer` passes
    `num_items_in_batch`, so that the loss is normalised over the whole accumulated batch under gradient accumulation.
    """

    backbone_class: type[IsotropicModel]

    def __init__(self, config: IsotropicConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.backbone = backbone_class_of(self)(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    def forward_features(self, pixel_values: torch.Tensor, **kwargs) -> BaseModelOutputWithPooling:
        return self.backbone(pixel_values, return_dict=True, **kwargs)

    def forward_head(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return self.classifier(pooled_output)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        interpolate_pos_encoding: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **loss_kwargs,
    ) -> ImageClassifierOutput | tuple:
        outputs = self.forward_features(
            pixel_values,
            interpolate_pos_encoding=interpolate_pos_encoding,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        logits = self.forward_head(outputs.pooler_output)
        loss = None
        if labels is not None:
            loss = classification_loss(logits, labels, self.config, self.loss_function, **loss_kwargs)
        output = ImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output


class IsotropicForMaskedImageModeling(MaskedImageModelingMixin, IsotropicPreTrainedModel):
    """Masked image modeling on an isotropic backbone: BERT-style masked patch reconstruction in pixel space
    (Cazenavette & Lucey 2021, fig. 1; the recipe of SimMIM, Xie et al. 2022).

    The backbone (`backbone_class(config, use_mask_token=True)`, under `base_model_prefix = "backbone"` as in
    `IsotropicForImageClassification`, so `...ForImageClassification.from_pretrained` of a saved model loads it and
    adds only the classifier) replaces the patch embeddings of the masked patches by a learned mask token before
    the position embedding (ViT, Dosovitskiy et al. 2021, eq. 1, with BERT's [MASK]); a `PixelShuffleDecoder`
    (a 1x1 projection, SimMIM's linear head) maps every patch token of the final (normed) sequence to its patch's
    pixels; the loss, `masked_reconstruction_loss`, covers the masked patches only (config `mim_loss`,
    `mim_norm_target`). Class tokens take no part: the patch tokens are the last `N` of the sequence, also for
    ConViT and PRS-ViT, whose class token joins after their local blocks.

    `forward` takes `pixel_values` (normalised like the image processor's output) and optionally `bool_masked_pos`
    (`(batch, N)` or `(batch, grid_height, grid_width)`, `True` = masked), e.g. from
    `data.MaskedImageModelingCollator`; without it the model draws a mask per call with `MaskGenerator.from_config`
    (`mim_mask_ratio`, `mim_masking`) from torch's global generator. Returns `MaskedImageModelingOutputWithMask`
    (`loss`, `reconstruction` of the input's shape, `hidden_states`, `attentions`, the mask used); the loss is always
    computed, so plain `Trainer` trains the model (`remove_unused_columns=False`; `label_names=["bool_masked_pos"]`
    makes `evaluate` report it, as transformers' `run_mim.py`).

    The pixels of the masked patches are also set to 0 (the normalised mean) before the backbone: with
    `patch_embedding="conv_stem"` the stem's receptive field (`2 * patch_size - 1` pixels) reaches `patch_size - 1`
    pixels into the patches above and to the left, so visible tokens would otherwise see most of a masked
    neighbour. No part of the network sees a masked pixel; only the loss does.
    """

    backbone_class: type[IsotropicModel]

    def __init__(self, config: IsotropicConfig) -> None:
        super().__init__(config)
        self.backbone = backbone_class_of(self)(config, use_mask_token=True)
        self.decoder = PixelShuffleDecoder(config.hidden_size, config.patch_size, config.num_channels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        interpolate_pos_encoding: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> MaskedImageModelingOutputWithMask | tuple:
        hidden_pixels, bool_masked_pos = self.mask_inputs(pixel_values, bool_masked_pos)
        outputs = self.backbone(
            hidden_pixels,
            bool_masked_pos=bool_masked_pos,
            interpolate_pos_encoding=interpolate_pos_encoding,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        batch_size, _, height, width = pixel_values.shape
        grid_height, grid_width = height // self.config.patch_size, width // self.config.patch_size
        patch_tokens = outputs.last_hidden_state[:, -grid_height * grid_width :]
        feature_map = patch_tokens.transpose(1, 2).reshape(batch_size, -1, grid_height, grid_width)
        output = self.reconstruct(feature_map, pixel_values, bool_masked_pos, outputs)
        return output
