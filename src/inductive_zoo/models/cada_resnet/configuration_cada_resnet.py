"""Configuration of CADA-ResNet (Arizumi 2022): a ResNet whose bottleneck 3x3 convolutions are CADA layers."""

from typing import Any, ClassVar

from transformers import PreTrainedConfig

from ...layers.mixers.cada import INVARIANCES
from ..masked_image_modeling import check_masked_image_modeling_config
from ..presets import PresetMixin
from ..validation import (
    check_choices,
    check_field_values,
    check_positive,
    check_positive_ints,
    check_positive_odd_int,
    check_rates,
    is_positive_int,
    typed_config,
)

STEMS = ("imagenet", "cifar")
MIXERS = ("cada", "conv")

# Stage layouts of the presets: ResNet-50 (He et al. 2016) at 224 px, and CIFAR layouts with a 3x3 stem.
RESNET_WIDTHS = [64, 128, 256, 512]
CADA_RESNET_PRESETS: dict[str, dict[str, Any]] = {
    "resnet50-224": dict(image_size=224, stem="imagenet", depths=[3, 4, 6, 3], bottleneck_widths=RESNET_WIDTHS),
    "resnet50-32": dict(image_size=32, stem="cifar", depths=[3, 4, 6, 3], bottleneck_widths=RESNET_WIDTHS),
    "resnet26-32": dict(image_size=32, stem="cifar", depths=[2, 2, 2, 2], bottleneck_widths=RESNET_WIDTHS),
    "micro-32": dict(image_size=32, stem="cifar", stem_width=16, depths=[1, 1, 1], bottleneck_widths=[16, 32, 64]),
    # With the ImageNet stem (as transformers' ResNet-18 baseline on CIFAR): 8x8 maps from the first stage.
    "tiny-stem4-32": dict(
        image_size=32, stem="imagenet", stem_width=32, depths=[1, 1, 1], bottleneck_widths=[32, 64, 128]
    ),
    "small-stem4-32": dict(
        image_size=32, stem="imagenet", stem_width=64, depths=[2, 2, 2, 2], bottleneck_widths=[32, 64, 128, 256]
    ),
}


@typed_config
class CADAResNetConfig(PresetMixin, PreTrainedConfig):
    """A bottleneck ResNet (He et al. 2016, v1.5: the stride sits on the 3x3 position) whose 3x3 convolutions are
    context-aware decomposed attention (CADA, Arizumi 2022, "Studying inductive biases in image classification
    task"), with the paper's ablations as switches. Every value is checked when the config is built: a bad one raises
    `ValueError` naming the field. `from_preset(name, **overrides)` builds a preset:

    - `resnet50-224`: ResNet-50 for ImageNet (7x7/2 stem and 3x3/2 max-pool, depths 3-4-6-3);
    - `resnet50-32`, `resnet26-32`: CIFAR layouts (3x3/1 stem, no max-pool; depths 3-4-6-3 and 2-2-2-2);
    - `micro-32`: a small CIFAR layout for quick runs and tests (3 stages of one block, widths 16-32-64);
    - `tiny-stem4-32`, `small-stem4-32`: small layouts with the ImageNet stem (stride 4), sized for CPU runs on
      CIFAR (widths 32-64-128 in one block per stage; 32-64-128-256 in two).

    Defaults of the CADA switches are our choice (the paper is known to us only by its abstract): 4 bases of 3x3
    (the window of the convolution they replace), relaxed invariance with the relative-position term (the variants
    the paper finds best), one context group, CADA also in the downsampling blocks.

    Args:
        image_size: side of the square images the image processor produces; the network itself takes any size.
        num_channels: input channels (3 for RGB).
        stem: `"imagenet"` (7x7 stride-2 convolution, BatchNorm, ReLU, 3x3 stride-2 max-pool) or `"cifar"` (3x3
            stride-1 convolution, BatchNorm, ReLU).
        stem_width: output channels of the stem.
        depths: bottleneck blocks per stage; the first stage keeps the stem's resolution, every later stage halves
            it in its first block.
        bottleneck_widths: inner width of the blocks of each stage (the width of the 3x3/CADA layer).
        bottleneck_expansion: a stage outputs `bottleneck_expansion * width` channels (4 in ResNet-50).
        mixer: `"cada"` (CADA layers) or `"conv"` (plain 3x3 convolutions: the plain ResNet of the same layout).
        num_bases: `B`, base kernels of every CADA layer (an ablation of the paper).
        kernel_size: odd side `k` of the CADA windows (an ablation of the paper; plain convolutions stay 3x3).
        invariance: `"relaxed"` (coefficients from the context at each pixel) or `"strict"` (position-independent
            coefficients: each CADA layer is a depthwise convolution).
        relative_position: add the relative-position kernel `R` to every CADA layer (default on: the paper finds
            that this strong-invariance term helps).
        context_groups: channel groups with their own coefficients (like attention heads); must divide every
            bottleneck width.
        cada_in_downsampling: CADA also in the stride-2 blocks; `False` puts plain 3x3 stride-2 convolutions there
            (the paper's downsampling ablation).
        initializer_range: standard deviation of the normal initialisation of the classifier and of the
            masked-image-modeling decoder.
        drop_path_rate: stochastic depth on the residual branch of the blocks (Huang et al. 2016), growing
            linearly from 0 at the first block to this at the last.
        mim_mask_ratio, mim_masking, mim_norm_target, mim_loss: masked image modeling
            (`CADAResNetForMaskedImageModeling`), as in `IsotropicConfig`; the masked patches are
            `output_stride x output_stride` pixels (`mim_patch_size`), one per position of the last stage's map.
    """

    model_type = "cada_resnet"
    presets: ClassVar[dict[str, dict[str, Any]]] = CADA_RESNET_PRESETS

    image_size: int = 224
    num_channels: int = 3
    stem: str = "imagenet"
    stem_width: int = 64
    depths: list[int] | tuple[int, ...] = (3, 4, 6, 3)
    bottleneck_widths: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    bottleneck_expansion: int = 4
    mixer: str = "cada"
    num_bases: int = 4
    kernel_size: int = 3
    invariance: str = "relaxed"
    relative_position: bool = True
    context_groups: int = 1
    cada_in_downsampling: bool = True
    initializer_range: float | int = 0.02
    drop_path_rate: float | int = 0.0
    mim_mask_ratio: float | int = 0.6
    mim_masking: str = "random"
    mim_norm_target: bool = False
    mim_loss: str = "mse"

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        check_field_values(self)
        check_choices(self, stem=STEMS, mixer=MIXERS, invariance=INVARIANCES)
        check_positive_ints(
            self, "image_size", "num_channels", "stem_width", "bottleneck_expansion", "num_bases", "context_groups"
        )
        check_positive_odd_int(self, "kernel_size")
        for name in ("depths", "bottleneck_widths"):
            value = getattr(self, name)
            if not value or not all(map(is_positive_int, value)):  # a list or tuple (typed_config)
                raise ValueError(f"{name} must be a non-empty list of positive integers, got {value!r}")
            setattr(self, name, list(value))
        if len(self.depths) != len(self.bottleneck_widths):
            raise ValueError(
                f"depths ({self.depths}) and bottleneck_widths ({self.bottleneck_widths}) must have the same length: "
                "one entry per stage"
            )
        if self.mixer == "cada" and any(width % self.context_groups for width in self.bottleneck_widths):
            raise ValueError(
                f"context_groups ({self.context_groups}) must divide every bottleneck width {self.bottleneck_widths}"
            )
        check_positive(self, "initializer_range")
        check_rates(self, "drop_path_rate")
        check_masked_image_modeling_config(self)

    @property
    def stage_channels(self) -> list[int]:
        """Output channels of each stage: `bottleneck_expansion * width`."""
        return [self.bottleneck_expansion * width for width in self.bottleneck_widths]

    @property
    def stem_stride(self) -> int:
        """Downsampling of the stem: 4 for `"imagenet"` (stride-2 convolution and max-pool), 1 for `"cifar"`."""
        return 4 if self.stem == "imagenet" else 1

    @property
    def output_stride(self) -> int:
        """Downsampling of the whole network: the stem's, then 2 in every stage after the first."""
        return self.stem_stride * 2 ** (len(self.depths) - 1)

    @property
    def mim_patch_size(self) -> int:
        """Side in pixels of the patches masked image modeling masks and reconstructs: `output_stride`, so that
        each position of the last stage's map predicts one patch (SimMIM's choice for hierarchical encoders)."""
        return self.output_stride
