"""CADA-ResNet (Arizumi 2022): a bottleneck ResNet with context-aware decomposed attention, its classifier and its
masked-image-modeling model."""

import math
from collections import OrderedDict

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndNoAttention, ImageClassifierOutputWithNoAttention
from transformers.utils import can_return_tuple

from ...layers.drop_path import DropPath
from ...layers.mixers.cada import ContextAwareDecomposedAttention
from ...layers.pixel_values import check_pixel_values
from ..capabilities import VariantCapabilities
from ..classification import classification_loss
from ..image_size import ImageSizeMixin
from ..loading import SafeLoadingMixin
from ..masked_image_modeling import (
    MaskedImageModelingMixin,
    MaskedImageModelingOutputWithMask,
    PixelShuffleDecoder,
    prepare_bool_masked_pos,
)
from .configuration_cada_resnet import CADAResNetConfig


def spatial_mixer(config: CADAResNetConfig, width: int, stride: int) -> nn.Module:
    """The layer at a bottleneck's 3x3 position: CADA, or a plain 3x3 convolution for `mixer="conv"` and, with
    `cada_in_downsampling=False`, in the stride-2 blocks."""
    if config.mixer == "conv" or (stride > 1 and not config.cada_in_downsampling):
        return nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
    return ContextAwareDecomposedAttention(
        width,
        num_bases=config.num_bases,
        kernel_size=config.kernel_size,
        stride=stride,
        context_groups=config.context_groups,
        invariance=config.invariance,
        relative_position=config.relative_position,
    )


class CADAResNetStem(nn.Module):
    """`"imagenet"`: 7x7 stride-2 convolution, BatchNorm, ReLU, 3x3 stride-2 max-pool (He et al. 2016, ResNet-50);
    `"cifar"`: 3x3 stride-1 convolution, BatchNorm, ReLU, full resolution kept (the usual CIFAR adaptation)."""

    def __init__(self, config: CADAResNetConfig) -> None:
        super().__init__()
        imagenet = config.stem == "imagenet"
        kernel_size = 7 if imagenet else 3
        self.convolution = nn.Conv2d(
            config.num_channels,
            config.stem_width,
            kernel_size,
            stride=2 if imagenet else 1,
            padding=kernel_size // 2,
            bias=False,
        )
        self.norm = nn.BatchNorm2d(config.stem_width)
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool2d(3, stride=2, padding=1) if imagenet else nn.Identity()

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.pool(self.activation(self.norm(self.convolution(pixel_values))))


class CADAResNetBottleneck(GradientCheckpointingLayer):
    """A ResNet v1.5 bottleneck (He et al. 2016, fig. 5 right) with the 3x3 convolution replaced by CADA:
    1x1 conv (the value projection `W_v`), BN, ReLU, then CADA or a 3x3 conv (carrying the stride), BN, ReLU, then a
    1x1 conv to `bottleneck_expansion * width` channels, BN; plus the shortcut (the identity, or a strided 1x1 conv
    and BN when the shape changes); then ReLU."""

    def __init__(
        self, config: CADAResNetConfig, in_channels: int, width: int, stride: int, drop_path: float = 0.0
    ) -> None:
        super().__init__()
        out_channels = config.bottleneck_expansion * width
        self.value_projection = nn.Conv2d(in_channels, width, 1, bias=False)
        self.value_norm = nn.BatchNorm2d(width)
        self.mixer = spatial_mixer(config, width, stride)
        self.mixer_norm = nn.BatchNorm2d(width)
        self.output_projection = nn.Conv2d(width, out_channels, 1, bias=False)
        self.output_norm = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            # Named so that the BatchNorm reads `shortcut.norm`: Trainer exempts `*norm*` from weight decay.
            self.shortcut = nn.Sequential(
                OrderedDict(
                    convolution=nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                    norm=nn.BatchNorm2d(out_channels),
                )
            )
        self.activation = nn.ReLU()
        self.drop_path = DropPath(drop_path)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut(hidden_states)
        hidden_states = self.activation(self.value_norm(self.value_projection(hidden_states)))
        hidden_states = self.activation(self.mixer_norm(self.mixer(hidden_states)))
        hidden_states = self.output_norm(self.output_projection(hidden_states))
        return self.activation(self.drop_path(hidden_states) + residual)


class CADAResNetPreTrainedModel(VariantCapabilities, SafeLoadingMixin, ImageSizeMixin, PreTrainedModel):
    """Weight initialisation and loading conventions of CADA-ResNet.

    Convolutions: He et al. (2015) normal initialisation in fan-out mode with the ReLU gain (torchvision's ResNet),
    `std = sqrt(2 / fan_out)` with `fan_out = out_channels / groups * k_h * k_w`. CADA layers: their
    `reset_parameters` (the same rule for each depthwise kernel, `fan_out = k^2`; zero context projections and
    strict coefficient logits, so the coefficients start uniform, `1 / B`). BatchNorm: scale 1, shift 0, fresh
    running statistics. Classifier and masked-image-modeling decoder: normal with std `initializer_range`, zero
    bias; mask token: zero. Everything goes through
    `transformers.initialization`, because `from_pretrained` builds the modules on the meta device and fills only
    what the checkpoint holds.
    """

    # A convolutional network of stage maps: no tokens, no class token (`capabilities.VariantCapabilities`).
    is_token_model = False
    supports_class_token = False

    config_class = CADAResNetConfig
    base_model_prefix = "backbone"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["CADAResNetBottleneck"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            fan_out = module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            init.normal_(module.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, ContextAwareDecomposedAttention):
            module.reset_parameters()
        elif isinstance(module, CADAResNetModel) and module.mask_token is not None:
            init.zeros_(module.mask_token)
        elif isinstance(module, PixelShuffleDecoder):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)
        else:  # BatchNorm (with its running statistics) and the classifier's nn.Linear
            super()._init_weights(module)


class CADAResNetModel(CADAResNetPreTrainedModel):
    """The CADA-ResNet backbone: `stem -> stages of CADAResNetBottleneck -> mean pooling` (Arizumi 2022).

    Takes images of any size (it is fully convolutional; `config.image_size` only sets the image processor).
    Returns `BaseModelOutputWithPoolingAndNoAttention`: `last_hidden_state` the last stage's map
    `(N, stage_channels[-1], H', W')`, `pooler_output` its spatial mean `(N, stage_channels[-1])`, and on request
    `hidden_states`: the stem's output, then each stage's output. Blocks support gradient checkpointing; under it,
    BatchNorm running statistics are updated a second time by the recomputation, as in any checkpointed BN network.

    With `use_mask_token` (masked image modeling), `bool_masked_pos` (`(batch, N)` over the grid of
    `config.mim_patch_size` patches) replaces the stem's output at every position of a masked patch by a learned
    per-channel mask embedding `mask_token` (the convolutional counterpart of a token model's mask token).
    """

    def __init__(self, config: CADAResNetConfig, use_mask_token: bool = False) -> None:
        super().__init__(config)
        self.num_channels = config.num_channels
        self.stem = CADAResNetStem(config)
        self.mask_token = nn.Parameter(torch.zeros(1, config.stem_width, 1, 1)) if use_mask_token else None
        in_channels = config.stem_width
        self.stages = nn.ModuleList()
        rates = iter(torch.linspace(0.0, config.drop_path_rate, sum(config.depths)).tolist())
        for index, (depth, width) in enumerate(zip(config.depths, config.bottleneck_widths, strict=True)):
            blocks = []
            for block_index in range(depth):
                stride = 2 if index > 0 and block_index == 0 else 1
                blocks.append(CADAResNetBottleneck(config, in_channels, width, stride, drop_path=next(rates)))
                in_channels = config.bottleneck_expansion * width
            self.stages.append(nn.Sequential(*blocks))
        self.post_init()

    def mask_stem_output(self, hidden_states: torch.Tensor, bool_masked_pos: torch.Tensor) -> torch.Tensor:
        if self.mask_token is None:
            raise ValueError("bool_masked_pos was given but this model was built without a mask token")
        # The stem output has `mim_patch_size / stem_stride` positions per patch side (image sizes are multiples of
        # `mim_patch_size`, checked by `prepare_bool_masked_pos`).
        scale = self.config.mim_patch_size // self.config.stem_stride
        height, width = hidden_states.shape[-2] // scale, hidden_states.shape[-1] // scale
        mask = bool_masked_pos.reshape(hidden_states.shape[0], 1, height, width)
        mask = mask.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        return torch.where(mask, self.mask_token.to(hidden_states.dtype), hidden_states)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutputWithPoolingAndNoAttention | tuple:
        if pixel_values is None:
            raise ValueError("pixel_values is required")
        check_pixel_values(pixel_values, self.num_channels)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states

        hidden_states = self.stem(pixel_values.to(self.stem.convolution.weight.dtype))
        if bool_masked_pos is not None:
            bool_masked_pos = prepare_bool_masked_pos(bool_masked_pos, pixel_values, self.config)
            hidden_states = self.mask_stem_output(hidden_states, bool_masked_pos)
        all_hidden_states = [hidden_states]
        for stage in self.stages:
            hidden_states = stage(hidden_states)
            all_hidden_states.append(hidden_states)
        output = BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=hidden_states,
            pooler_output=hidden_states.mean(dim=(2, 3)),
            hidden_states=tuple(all_hidden_states) if output_hidden_states else None,
        )
        return output


class CADAResNetForImageClassification(CADAResNetPreTrainedModel):
    """`CADAResNetModel` with a linear classifier on the mean-pooled last stage (ResNet's head, He et al. 2016).

    With `labels`, the loss follows `config.problem_type` (cross-entropy for single-label classification); label ids
    outside `[0, num_labels)` raise `ValueError`. Extra keyword arguments go to the loss (`Trainer`'s
    `num_items_in_batch`).
    """

    def __init__(self, config: CADAResNetConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.backbone = CADAResNetModel(config)
        width = config.stage_channels[-1]
        self.classifier = nn.Linear(width, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **loss_kwargs,
    ) -> ImageClassifierOutputWithNoAttention | tuple:
        outputs = self.backbone(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(outputs.pooler_output)
        loss = None
        if labels is not None:
            loss = classification_loss(logits, labels, self.config, self.loss_function, **loss_kwargs)
        output = ImageClassifierOutputWithNoAttention(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
        return output


class CADAResNetForMaskedImageModeling(MaskedImageModelingMixin, CADAResNetPreTrainedModel):
    """Masked image modeling for CADA-ResNet, SimMIM-style (Xie et al. 2022, who pre-train the hierarchical Swin the
    same way: mask patches of the total stride, linear head on the last map): a ResNet has no token embedding, so
    the mask acts at the input and on the stem's output.

    - Masked units: square patches of `config.mim_patch_size = output_stride` pixels (32 for `resnet50-224`, 8 for
      `resnet26-32`/`resnet50-32`, 4 for `micro-32`), one per position of the last stage's map; `mim_mask_ratio`
      of them, random or block-wise (`mim_masking`).
    - Masking: the pixels of masked patches are set to 0 (the normalised mean), so that no convolution sees them,
      and the stem's output at their positions is replaced by a learned per-channel mask embedding
      (`backbone.mask_token`, `(stem_width,)`; the counterpart of the token models' mask token, so that the
      network can tell a masked region from a dark one).
    - Decoder: `PixelShuffleDecoder` on the last stage's map (a 1x1 convolution to `output_stride^2 * C` channels,
      PixelShuffle to pixels: SimMIM's linear head); loss `masked_reconstruction_loss` on the masked patches only.

    The backbone sits under `base_model_prefix = "backbone"` as in `CADAResNetForImageClassification`, which loads
    a saved model's backbone (the classifier is new; BatchNorm running statistics come along and are re-estimated
    by fine-tuning). `forward` takes `pixel_values` whose sides are multiples of `mim_patch_size` and optionally
    `bool_masked_pos` (`(batch, N)`); without it the model draws a mask from the config. Returns
    `MaskedImageModelingOutputWithMask` (`loss`, `reconstruction` of the input's shape, `hidden_states`: the masked
    stem output and each stage's output, the mask used).
    """

    def __init__(self, config: CADAResNetConfig) -> None:
        super().__init__(config)
        self.backbone = CADAResNetModel(config, use_mask_token=True)
        self.decoder = PixelShuffleDecoder(config.stage_channels[-1], config.mim_patch_size, config.num_channels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> MaskedImageModelingOutputWithMask | tuple:
        hidden_pixels, bool_masked_pos = self.mask_inputs(pixel_values, bool_masked_pos)
        outputs = self.backbone(
            hidden_pixels, bool_masked_pos=bool_masked_pos, output_hidden_states=output_hidden_states, return_dict=True
        )
        output = self.reconstruct(outputs.last_hidden_state, pixel_values, bool_masked_pos, outputs)
        return output
