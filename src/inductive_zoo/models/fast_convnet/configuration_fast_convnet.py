"""Configuration of FastConvNet, the zoo's strong small-convnet baseline (not a zoo variant: it is trained by the
same recipes to measure the zoo's models against, and is never released under `zoo/`)."""

from typing import Any

from transformers import PreTrainedConfig

from ..validation import check_field_values, check_positive, check_positive_ints, is_positive_int, typed_config


@typed_config
class FastConvNetConfig(PreTrainedConfig):
    """The three-block convnet of the fastest CIFAR-10 training recipes (Page 2018, "How to train your ResNet";
    Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU", airbench): a small stem, then per block a 3x3
    convolution, 2x2 max-pooling, BatchNorm and GELU, and a second 3x3 convolution, BatchNorm and GELU; global
    max-pooling and a linear classifier whose logits are scaled by `logit_scale`.

    Our choices where the sources differ: GELU everywhere, ordinary affine BatchNorm, a 2x2 stem convolution without
    padding (whose filters `training.whitening` can set from the training images' patches) followed by GELU, and a
    classifier without bias.

    Args:
        image_size: side of the square images the image processor produces; the network takes any size of at least
            `stem_kernel_size + 7` pixels (three poolings).
        num_channels: input channels (3 for RGB).
        stem_width: output channels of the stem convolution (24: twice the 12 dimensions of a 2x2 RGB patch, so
            that whitening can set every filter and its negation).
        stem_kernel_size: side of the stem convolution (stride 1, no padding).
        block_widths: output channels of each block.
        batch_norm_momentum: BatchNorm's running-statistics momentum (PyTorch's convention).
        logit_scale: the factor on the classifier's logits (a temperature; 1/9 in airbench).
        initializer_range: standard deviation of the classifier's normal initialisation.
    """

    model_type = "fast_convnet"

    image_size: int = 32
    num_channels: int = 3
    stem_width: int = 24
    stem_kernel_size: int = 2
    block_widths: list[int] | tuple[int, ...] = (64, 256, 256)
    batch_norm_momentum: float | int = 0.1
    logit_scale: float | int = 1 / 9
    initializer_range: float | int = 0.02

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        check_field_values(self)
        check_positive_ints(self, "image_size", "num_channels", "stem_width", "stem_kernel_size")
        if not self.block_widths or not all(map(is_positive_int, self.block_widths)):
            raise ValueError(f"block_widths must be a non-empty list of positive integers, got {self.block_widths!r}")
        self.block_widths = list(self.block_widths)
        if not 0.0 < self.batch_norm_momentum <= 1.0:
            raise ValueError(f"batch_norm_momentum must be in (0, 1], got {self.batch_norm_momentum!r}")
        check_positive(self, "logit_scale", "initializer_range")
