"""Configuration of PRS-ViT (Lee et al. 2022): convolutions reparameterizable into self-attention, per layer."""

from typing import Any

from ..skeleton.configuration_skeleton import PRESET_GEOMETRIES, IsotropicConfig
from ..validation import check_choices, check_layer_count, check_positive, check_positive_odd_int, typed_config

# (head_dim, depth, reparameterizable layers) of the presets; every preset has 9 heads (a 3x3 kernel).
# How content attention enters a switched block (see `ReparameterizableConvAttention`).
REPARAMETERIZATION_SWITCHES = ("linear_gate", "saturated_gate")
PRS_DIMS = {"micro": (16, 4, 3), "tiny": (32, 12, 10), "small": (48, 12, 10)}


def prs_presets() -> dict[str, dict[str, Any]]:
    presets = {}
    for name, (head_dim, depth, reparameterizable) in PRS_DIMS.items():
        for geometry, (image_size, patch_size) in PRESET_GEOMETRIES.items():
            presets[f"{name}-{geometry}"] = dict(
                image_size=image_size,
                patch_size=patch_size,
                hidden_size=9 * head_dim,
                num_attention_heads=9,
                kernel_size=3,
                num_hidden_layers=depth,
                intermediate_size=4 * 9 * head_dim,
                num_reparameterizable_layers=reparameterizable,
            )
    return presets


@typed_config
class PRSViTConfig(IsotropicConfig):
    """PRS-ViT: the first `num_reparameterizable_layers` blocks are `kernel_size x kernel_size` convolutions that can be
    switched, one by one and without changing the function, into gated positional self-attention (GPSA); the class
    token joins after them and plain self-attention blocks follow (Lee et al. 2022, "Towards Flexible Inductive Bias
    via Progressive Reparameterization Scheduling"; the exact switch is our design, see `docs` of `PRSViTModel`).

    Adds to `IsotropicConfig`:
        kernel_size: odd side of the convolution; the reparameterizable blocks have `kernel_size**2` heads, one per
            kernel tap.
        num_attention_heads: heads of every attention layer; must equal `kernel_size**2`.
        attention_probs_dropout_prob: dropout on the attention weights (attention mode only).
        qkv_bias: bias in the query/key/value projections.
        num_reparameterizable_layers: how many leading blocks have the two modes.
        attention_layers: indices of the reparameterizable blocks currently in attention mode (the rest are
            convolutions); kept up to date by `reparameterize`, saved with the model.
        reparameterization_locality_strength: `alpha` of the positional scores `-alpha ||delta - Delta_h||^2` set
            at the switch; large enough that each head attends to a single key (error about `exp(-alpha)`).
        reparameterization_switch: how content attention enters a switched block (see
            `ReparameterizableConvAttention`): `"linear_gate"` (default), a plain trainable weight set to 0 at the
            switch, or `"saturated_gate"`, ConViT's sigmoid gate set to `reparameterization_gate`, which leaves the
            block a convolution in practice (the first design, kept to compare switches).
        reparameterization_content_gain: with `"linear_gate"`, the gain `g` of the content weight `s_h = g
            theta_h` (`theta_h` the trainable `gating_param`, 0 at the switch). Adam moves every parameter by about
            the learning rate per step whatever its gradient's scale, so `g` sets how fast a switched block can
            leave the convolution relative to the other weights (a learning-rate multiplier written into the
            parameterization, so it holds under any optimiser settings and through save and load). Default 4, the
            smallest of 1, 4 and 10 with which every block of a freshly switched micro PRS-ViT puts over 1 % of its
            attention outside the 3x3 neighbourhood after 60 AdamW steps (training/prs_switch_candidates.py).
        reparameterization_gate: with `"saturated_gate"`, the gate logit `lambda` set at the switch; content
            attention enters with weight `1 - sigmoid(lambda)` (4.5e-5 at the default 10).
    """

    model_type = "prs_vit"
    token_mixer = "self_attention"
    presets = prs_presets()

    hidden_size: int = 144
    num_attention_heads: int = 9
    kernel_size: int = 3
    attention_probs_dropout_prob: float | int = 0.0
    qkv_bias: bool = False
    num_reparameterizable_layers: int = 10
    attention_layers: list[int] | None = None
    reparameterization_locality_strength: float | int = 50.0
    reparameterization_switch: str = "linear_gate"
    reparameterization_content_gain: float | int = 4.0
    reparameterization_gate: float | int = 10.0

    def token_mixer_names(self) -> list[str]:
        """`num_reparameterizable_layers` convolution/attention blocks, then self-attention blocks."""
        reparameterizable = ["reparameterizable_conv_attention"] * self.num_reparameterizable_layers
        return reparameterizable + [self.token_mixer] * (self.num_hidden_layers - self.num_reparameterizable_layers)

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self.check_attention_heads()
        check_positive_odd_int(self, "kernel_size")
        if self.num_attention_heads != self.kernel_size**2:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must equal kernel_size**2 "
                f"({self.kernel_size**2}): one head per kernel tap"
            )
        check_layer_count(self, "num_reparameterizable_layers")
        layers = self.num_reparameterizable_layers
        if self.pooling == "cls" and layers == self.num_hidden_layers:
            raise ValueError(
                "pooling='cls' needs num_reparameterizable_layers < num_hidden_layers: the class token joins after "
                "the reparameterizable blocks and must pass through at least one attention block"
            )
        self.attention_layers = sorted(set(self.attention_layers or []))
        outside = [index for index in self.attention_layers if not 0 <= index < layers]
        if outside:
            raise ValueError(f"attention_layers {outside} are not reparameterizable layers (0..{layers - 1})")
        check_choices(self, reparameterization_switch=REPARAMETERIZATION_SWITCHES)
        check_positive(self, "reparameterization_locality_strength")
        check_positive(self, "reparameterization_content_gain")

    def inactive_fields(self) -> set[str]:
        """The fields that do nothing given the others: the parameter of the switch not in use."""
        return (
            {"reparameterization_gate"}
            if self.reparameterization_switch == "linear_gate"
            else {"reparameterization_content_gain"}
        )
