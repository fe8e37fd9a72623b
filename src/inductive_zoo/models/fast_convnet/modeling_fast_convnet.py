"""FastConvNet: the zoo's strong small-convnet baseline (`FastConvNetConfig`)."""

import math

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndNoAttention, ImageClassifierOutputWithNoAttention
from transformers.utils import can_return_tuple

from ...layers.pixel_values import check_pixel_values
from ..classification import classification_loss
from ..image_size import ImageSizeMixin
from ..loading import SafeLoadingMixin
from .configuration_fast_convnet import FastConvNetConfig


class FastConvNetBlock(nn.Module):
    """3x3 convolution, 2x2 max-pooling, BatchNorm, GELU; 3x3 convolution, BatchNorm, GELU (no shortcut)."""

    def __init__(self, in_channels: int, out_channels: int, momentum: float) -> None:
        super().__init__()
        self.pooled_convolution = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.first_norm = nn.BatchNorm2d(out_channels, momentum=momentum)
        self.convolution = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.second_norm = nn.BatchNorm2d(out_channels, momentum=momentum)
        self.activation = nn.GELU()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation(self.first_norm(self.pool(self.pooled_convolution(hidden_states))))
        return self.activation(self.second_norm(self.convolution(hidden_states)))


class FastConvNetPreTrainedModel(SafeLoadingMixin, ImageSizeMixin, PreTrainedModel):
    """Weight initialisation: convolutions He-normal in fan-out mode (as the zoo's other convnets), BatchNorm scale 1
    and shift 0 with fresh running statistics, the classifier normal with std `initializer_range`; everything
    through `transformers.initialization` (`from_pretrained` builds on the meta device)."""

    config_class = FastConvNetConfig
    base_model_prefix = "backbone"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            fan_out = module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            init.normal_(module.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            if module.bias is not None:
                init.zeros_(module.bias)
        else:  # BatchNorm (with its running statistics) and the classifier's nn.Linear
            super()._init_weights(module)


class FastConvNetModel(FastConvNetPreTrainedModel):
    """The backbone: stem convolution and GELU, the blocks, global max-pooling (`pooler_output`)."""

    def __init__(self, config: FastConvNetConfig) -> None:
        super().__init__(config)
        self.stem = nn.Conv2d(config.num_channels, config.stem_width, config.stem_kernel_size, bias=True)
        self.activation = nn.GELU()
        widths = [config.stem_width, *config.block_widths]
        self.blocks = nn.ModuleList(
            FastConvNetBlock(widths[i], widths[i + 1], config.batch_norm_momentum) for i in range(len(widths) - 1)
        )
        self.post_init()

    @can_return_tuple
    def forward(
        self, pixel_values: torch.Tensor | None = None, output_hidden_states: bool | None = None, **kwargs
    ) -> BaseModelOutputWithPoolingAndNoAttention:
        check_pixel_values(pixel_values, self.config.num_channels)
        hidden_states = self.activation(self.stem(pixel_values))
        all_hidden_states = [hidden_states] if output_hidden_states else None
        for block in self.blocks:
            hidden_states = block(hidden_states)
            if all_hidden_states is not None:
                all_hidden_states.append(hidden_states)
        pooled = hidden_states.amax(dim=(2, 3))
        return BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=hidden_states,
            pooler_output=pooled,
            hidden_states=tuple(all_hidden_states) if all_hidden_states is not None else None,
        )


class FastConvNetForImageClassification(FastConvNetPreTrainedModel):
    """`FastConvNetModel` with a bias-free linear classifier on the max-pooled last block, its logits scaled by
    `config.logit_scale`. With `labels`, the loss follows `config.problem_type`."""

    def __init__(self, config: FastConvNetConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.backbone = FastConvNetModel(config)
        self.classifier = nn.Linear(config.block_widths[-1], config.num_labels, bias=False)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **loss_kwargs,
    ) -> ImageClassifierOutputWithNoAttention:
        outputs = self.backbone(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(outputs.pooler_output) * self.config.logit_scale
        loss = None
        if labels is not None:
            loss = classification_loss(logits, labels, self.config, self.loss_function, **loss_kwargs)
        return ImageClassifierOutputWithNoAttention(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
