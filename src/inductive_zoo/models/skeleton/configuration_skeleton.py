"""The configuration every isotropic variant shares: image, patching, width, depth and the inductive-bias switches."""

import math
from typing import Any, ClassVar

from transformers import PreTrainedConfig

from ..masked_image_modeling import check_masked_image_modeling_config
from ..presets import PresetMixin
from ..validation import check_choices, check_field_values, check_positive_ints, check_rates, typed_config

POSITION_EMBEDDINGS = ("none", "learned", "sincos", "sequence_sincos")
PATCH_EMBEDDINGS = ("linear", "conv_stem")
POOLINGS = ("cls", "mean")

# Widths and depths of the presets: (hidden_size, num_hidden_layers, num_attention_heads), DeiT-Ti/S for tiny/small.
PRESET_DIMS = {"micro": (96, 4, 3), "tiny": (192, 12, 3), "small": (384, 12, 6)}
# Image geometries of the presets: (image_size, patch_size) for CIFAR-sized and ImageNet-sized inputs.
PRESET_GEOMETRIES = {"patch4-32": (32, 4), "patch16-224": (224, 16)}


def standard_presets(with_heads: bool = True, **per_geometry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Presets named `{micro,tiny,small}-{patch4-32,patch16-224}` with an MLP ratio of 4.

    `per_geometry` maps a geometry name to extra fields for that geometry (a kernel size, say).
    """
    presets = {}
    for dims_name, (hidden, depth, heads) in PRESET_DIMS.items():
        for geometry, (image_size, patch_size) in PRESET_GEOMETRIES.items():
            preset = dict(
                image_size=image_size,
                patch_size=patch_size,
                hidden_size=hidden,
                num_hidden_layers=depth,
                intermediate_size=4 * hidden,
                **per_geometry.get(geometry, {}),
            )
            if with_heads:
                preset["num_attention_heads"] = heads
            presets[f"{dims_name}-{geometry}"] = preset
    return presets


@typed_config
class IsotropicConfig(PresetMixin, PreTrainedConfig):
    """Hyperparameters of the isotropic skeleton `patch embedding -> N x (token mixer + MLP) -> norm -> pool`.

    Subclasses add what their token mixer needs and name presets in `presets`; `from_preset(name, **overrides)`
    builds one. Every value is checked when the config is built: a bad one raises `ValueError` naming the field.

    Args:
        image_size: side of the square input image, in pixels.
        patch_size: side of a square patch; must divide `image_size` (a power of two for `patch_embedding="conv_stem"`).
        num_channels: input channels (3 for RGB).
        hidden_size: token width, the same in every block (isotropic).
        num_hidden_layers: number of residual blocks.
        intermediate_size: hidden width of the channel MLP.
        hidden_act: activation of the MLPs (a key of `transformers.activations.ACT2FN`).
        hidden_dropout_prob: dropout on the embeddings and on each residual branch.
        drop_path_rate: stochastic depth rate, growing linearly from 0 at the first block to this at the last.
        layer_norm_eps: epsilon of every LayerNorm.
        initializer_range: standard deviation of the truncated-normal initialisation of weights and tokens.
        position_embedding: inductive-bias switch: `"none"`, `"learned"` (ViT), `"sincos"` (fixed 2-D) or
            `"sequence_sincos"` (fixed 1-D over the token sequence, class token included, as IBiT's reference code).
        patch_embedding: inductive-bias switch: `"linear"` (ViT) or `"conv_stem"` (overlapping 3x3 convolutions).
        pooling: inductive-bias switch: `"cls"` (a class token, ViT) or `"mean"` (average of patch tokens).
        final_norm: LayerNorm after the last block (every preset; IBiT's reference code has none).
        mim_mask_ratio: masked image modeling (`...ForMaskedImageModeling`): fraction of the patches whose
            embeddings the mask token replaces, `round(ratio * N)` per image (default 0.6, SimMIM's, Xie et al. 2022).
        mim_masking: `"random"` (uniform, SimMIM/MAE) or `"block"` (BEiT's blockwise masking, Bao et al. 2022).
        mim_norm_target: reconstruct each masked patch normalised by its own mean and variance (MAE's
            `norm_pix_loss`, He et al. 2022); default off, so the loss measures pixel reconstruction as in
            Cazenavette & Lucey.
        mim_loss: per-pixel error of the reconstruction loss, `"mse"` (MAE; default) or `"l1"` (SimMIM).
    """

    model_type = "isotropic"
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    # The registered token mixer of every block (`layers.mixers`); a variant names its own.
    token_mixer: ClassVar[str | None] = None

    image_size: int = 32
    patch_size: int = 4
    num_channels: int = 3
    hidden_size: int = 192
    num_hidden_layers: int = 12
    intermediate_size: int = 768
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.0
    drop_path_rate: float | int = 0.0
    layer_norm_eps: float | int = 1e-6
    initializer_range: float | int = 0.02
    position_embedding: str = "learned"
    patch_embedding: str = "linear"
    pooling: str = "cls"
    final_norm: bool = True
    mim_mask_ratio: float | int = 0.6
    mim_masking: str = "random"
    mim_norm_target: bool = False
    mim_loss: str = "mse"

    def __post_init__(self, **kwargs: Any) -> None:
        check_field_values(self)
        check_choices(self, position_embedding=POSITION_EMBEDDINGS, patch_embedding=PATCH_EMBEDDINGS, pooling=POOLINGS)
        check_positive_ints(
            self, "image_size", "patch_size", "num_channels", "hidden_size", "num_hidden_layers", "intermediate_size"
        )
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size ({self.image_size}) must be divisible by patch_size ({self.patch_size})")
        if self.patch_embedding == "conv_stem" and (self.patch_size < 2 or not math.log2(self.patch_size).is_integer()):
            raise ValueError(
                f"patch_embedding='conv_stem' needs patch_size to be a power of two >= 2, got {self.patch_size}"
            )
        if self.position_embedding == "sequence_sincos" and self.hidden_size % 2:
            raise ValueError(
                f"position_embedding='sequence_sincos' needs an even hidden_size, got hidden_size={self.hidden_size}"
            )
        if self.position_embedding == "sincos" and self.hidden_size % 4:
            raise ValueError(
                f"position_embedding='sincos' needs hidden_size divisible by 4, got hidden_size={self.hidden_size}"
            )
        check_rates(self, "hidden_dropout_prob", "drop_path_rate")
        check_masked_image_modeling_config(self)
        super().__post_init__(**kwargs)

    def check_attention_heads(self) -> None:
        """For variants with attention: `num_attention_heads` is a positive integer dividing `hidden_size`."""
        check_positive_ints(self, "num_attention_heads")
        heads = self.num_attention_heads
        if isinstance(self.hidden_size, int) and self.hidden_size % heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads ({heads})")
        check_rates(self, "attention_probs_dropout_prob")

    def token_mixer_names(self) -> list[str]:
        """The registered name of each block's token mixer: `token_mixer` in every block; variants whose blocks
        differ (ConViT, PRS-ViT) override this.

        Raises:
            TypeError: the skeleton's own config, which names no mixer.
        """
        if self.token_mixer is None:
            raise TypeError(
                f"{type(self).__name__} is the skeleton's config without a token mixer; build a variant's model "
                "(IsoTransformerModel, ConViTModel, ...) from its config, or set token_mixer in a config subclass"
            )
        return [self.token_mixer] * self.num_hidden_layers

    def check_patch_tokens_only(self, variant: str) -> None:
        """For mixers of the patch grid only, which cannot mix a class token: `pooling` must be `"mean"`."""
        if self.pooling == "cls":
            raise ValueError(
                f"pooling must be 'mean' for {variant} (its token mixer works on the patch grid and does not mix a "
                f"class token), got {self.pooling!r}"
            )

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def mim_patch_size(self) -> int:
        """Side in pixels of the patches masked image modeling masks and reconstructs: the token patches."""
        return self.patch_size
