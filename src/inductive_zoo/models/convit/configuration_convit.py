"""Configuration of ConViT (d'Ascoli et al. 2021): GPSA blocks first, then plain self-attention."""

from typing import Any

from ..skeleton.configuration_skeleton import PRESET_GEOMETRIES, IsotropicConfig
from ..validation import check_layer_count, check_positive, typed_config

# ConViT-Ti/S/B: 4/9/16 heads of 48 dimensions, 12 blocks, the first 10 GPSA (d'Ascoli et al. 2021, Table 1).
CONVIT_DIMS = {"micro": (4, 24, 4, 3), "tiny": (4, 48, 12, 10), "small": (9, 48, 12, 10), "base": (16, 48, 12, 10)}


def convit_presets() -> dict[str, dict[str, Any]]:
    presets = {}
    for name, (heads, head_dim, depth, local_layers) in CONVIT_DIMS.items():
        for geometry, (image_size, patch_size) in PRESET_GEOMETRIES.items():
            presets[f"{name}-{geometry}"] = dict(
                image_size=image_size,
                patch_size=patch_size,
                hidden_size=heads * head_dim,
                num_attention_heads=heads,
                num_hidden_layers=depth,
                intermediate_size=4 * heads * head_dim,
                local_up_to_layer=local_layers,
            )
    return presets


@typed_config
class ConViTConfig(IsotropicConfig):
    """ConViT: the first `local_up_to_layer` blocks use gated positional self-attention (GPSA), the rest plain
    multi-head self-attention; the class token joins the patch tokens after the GPSA blocks (d'Ascoli et al. 2021).

    Adds to `IsotropicConfig`:
        num_attention_heads: heads of every attention layer; with local initialisation the first
            `floor(sqrt(heads))^2` heads of a GPSA layer start as the taps of a square convolution kernel.
        attention_probs_dropout_prob: dropout on the attention weights.
        qkv_bias: bias in the query/key/value projections (ConViT: none).
        local_up_to_layer: number of GPSA blocks (ConViT: 10 of 12).
        locality_strength: `alpha` of the local initialisation `v_h = alpha (2 Delta_h, -1)` (ConViT: 1).
        use_local_init: initialise GPSA as a convolution (positional part local, value projection the identity,
            as the reference code); otherwise `pos_proj` and `v` are drawn like every other linear layer.

    Presets `{micro,tiny,small,base}-{patch4-32,patch16-224}`: tiny/small/base are ConViT-Ti/S/B.
    Defaults follow the reference: learned position embedding on patches only, class-token pooling, LayerNorm
    epsilon 1e-6 (timm's `convit_*`).
    """

    model_type = "convit"
    token_mixer = "self_attention"
    presets = convit_presets()

    hidden_size: int = 192
    num_attention_heads: int = 4
    attention_probs_dropout_prob: float | int = 0.0
    qkv_bias: bool = False
    local_up_to_layer: int = 10
    locality_strength: float | int = 1.0
    use_local_init: bool = True

    def token_mixer_names(self) -> list[str]:
        """`local_up_to_layer` GPSA blocks, then self-attention blocks."""
        local = ["gpsa"] * self.local_up_to_layer
        return local + [self.token_mixer] * (self.num_hidden_layers - self.local_up_to_layer)

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self.check_attention_heads()
        check_layer_count(self, "local_up_to_layer")
        if self.pooling == "cls" and self.local_up_to_layer == self.num_hidden_layers:
            raise ValueError(
                "pooling='cls' needs local_up_to_layer < num_hidden_layers: the class token joins after the GPSA "
                "blocks and must pass through at least one attention block"
            )
        check_positive(self, "locality_strength")
