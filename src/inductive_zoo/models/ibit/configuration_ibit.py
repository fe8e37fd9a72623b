"""Configuration of IBiT (Giri 2025): attention with learned low-rank masks initialised to distance kernels."""

from typing import Any

from ...layers.mixers.distance_masks import KERNELS
from ..skeleton.configuration_skeleton import IsotropicConfig, standard_presets
from ..validation import check_choices, check_positive, check_positive_ints, typed_config


@typed_config
class IBiTConfig(IsotropicConfig):
    """IBiT: every block's token mixer is learned masked self-attention (LMSA) - per head, the raw scores
    `Q K^T / sqrt(d)` multiplied element-wise by a learned rank-`mask_rank` mask `A_h^T B_h` (relative layout,
    gathered to absolute positions), normalised by their Frobenius norm instead of a softmax (Giri 2025).

    Adds to `IsotropicConfig`:
        num_attention_heads, attention_probs_dropout_prob, qkv_bias: as for `IsoTransformerConfig`.
        mask_rank: rank `r` of each head's mask (the reference: 9).
        mask_kernel: distance kernel the masks start from: `"exponential"` `exp(-scale d)` (the reference) or
            `"gaussian"` `exp(-d^2 / (2 sigma^2))`; `d` is the Euclidean distance between patches.
        mask_kernel_scale, mask_kernel_sigma: the kernels' parameters (reference: scale 0.5).
        mask_epsilon: added to the Frobenius norm (reference: 1e-8).

    Departures of the reference code from the clean design, each a switch (defaults: ours; the converter of
    reference checkpoints sets the reference's):
        legacy_mask_roll: the reference's roll index centres patch kernels one position to the right (off by one).
        residual_from_normalized: the reference adds each branch to the *normalised* input (`LN(x) + f(LN(x))`).
        drop_path_on_mlp: stochastic depth on the MLP branch too (the reference: attention branch only).
        double_output_projection: the output projection applied twice, as in the first published version of the
            reference layer (`ConvFormer/LMSA_layer.py`); the final version, which the released runs used, applies
            it once.
        final_norm / position_embedding: the reference has no final LayerNorm and a fixed 1-D sequence sin-cos
            embedding (`position_embedding="sequence_sincos"`).

    Presets `{micro,tiny,small}-{patch4-32,patch16-224}`; `tiny-patch16-224` is the paper's DeiT-Tiny backbone
    (192 wide, 12 blocks, 3 heads, patch 16, 224 px, rank 9).
    """

    model_type = "ibit"
    token_mixer = "learned_masked_attention"
    presets = standard_presets()

    num_attention_heads: int = 3
    attention_probs_dropout_prob: float | int = 0.0
    qkv_bias: bool = True
    mask_rank: int = 9
    mask_kernel: str = "exponential"
    mask_kernel_scale: float | int = 0.5
    mask_kernel_sigma: float | int = 1.0
    mask_epsilon: float | int = 1e-8
    legacy_mask_roll: bool = False
    residual_from_normalized: bool = False
    drop_path_on_mlp: bool = True
    double_output_projection: bool = False

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self.check_attention_heads()
        check_choices(self, mask_kernel=KERNELS)
        sequence_length = self.num_patches + (self.pooling == "cls")
        check_positive_ints(self, "mask_rank")
        if self.mask_rank > sequence_length:
            raise ValueError(f"mask_rank ({self.mask_rank}) cannot exceed the sequence length ({sequence_length})")
        check_positive(self, "mask_kernel_scale", "mask_kernel_sigma", "mask_epsilon")
