"""Configurations of the isotropic family of Cazenavette & Lucey (2021): transformer, MLP-Mixer and conv mixers."""

from typing import Any

from ..skeleton.configuration_skeleton import IsotropicConfig, standard_presets
from ..validation import check_positive_ints, check_positive_odd_int, typed_config


@typed_config
class IsoTransformerConfig(IsotropicConfig):
    """An isotropic vision transformer (ViT/DeiT, Dosovitskiy et al. 2021): self-attention as the token mixer.

    Adds to `IsotropicConfig`:
        num_attention_heads: heads of every self-attention layer; must divide `hidden_size`.
        attention_probs_dropout_prob: dropout on the attention weights.
        qkv_bias: whether the query/key/value projection has a bias.

    Presets: `{micro,tiny,small}-{patch4-32,patch16-224}` (tiny/small are DeiT-Ti/S widths).
    """

    model_type = "iso_transformer"
    token_mixer = "self_attention"
    presets = standard_presets()

    num_attention_heads: int = 3
    attention_probs_dropout_prob: float | int = 0.0
    qkv_bias: bool = True

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self.check_attention_heads()


@typed_config
class IsoMixerConfig(IsotropicConfig):
    """An isotropic MLP-Mixer (Tolstikhin et al. 2021): a token-mixing MLP across the sequence as the token mixer.

    Adds to `IsotropicConfig`:
        token_mixing_hidden_size: hidden width of the token-mixing MLP (MLP-Mixer's `D_S`); `None` means
            `hidden_size // 2`, MLP-Mixer's ratio.

    The token-mixing MLP has one weight per sequence position, so the model only runs at its configured
    `image_size`. With `pooling="cls"` the class token is mixed with the patches like any other token.
    Defaults follow MLP-Mixer: no position embedding (the mixing weights are position-specific already), mean pooling.
    """

    model_type = "iso_mixer"
    token_mixer = "token_mixing_mlp"
    presets = standard_presets(with_heads=False)

    position_embedding: str = "none"
    pooling: str = "mean"
    token_mixing_hidden_size: int | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        if self.token_mixing_hidden_size is None:
            self.token_mixing_hidden_size = max(self.hidden_size // 2, 1)
        check_positive_ints(self, "token_mixing_hidden_size")


@typed_config
class IsoConvNetConfig(IsotropicConfig):
    """An isotropic convolutional network (ConvMixer-like, Trockman & Kolter 2022): a `kernel_size x kernel_size`
    depthwise convolution over the patch grid as the token mixer, inside the same pre-norm residual block.

    Adds to `IsotropicConfig`:
        kernel_size: odd side of the depthwise kernel ("same" zero padding keeps the grid).

    A convolution mixes only grid positions, so there is no class token: `pooling` must be `"mean"`.
    Defaults: no position embedding (the convolution is translation equivariant); presets use kernel 5 at 32 px
    (an 8x8 grid) and 7 at 224 px (a 14x14 grid) - our choice, the paper's exact kernels are not public.
    """

    model_type = "iso_convnet"
    token_mixer = "depthwise_conv"
    presets = standard_presets(with_heads=False, **{"patch4-32": {"kernel_size": 5}, "patch16-224": {"kernel_size": 7}})

    position_embedding: str = "none"
    pooling: str = "mean"
    kernel_size: int = 5

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        check_positive_odd_int(self, "kernel_size")
        self.check_patch_tokens_only("IsoConvNet")
