"""Configuration of IsoPoolFormer: PoolFormer's pooling token mixer (Yu et al. 2022) on the isotropic skeleton."""

from typing import Any

from ..skeleton.configuration_skeleton import IsotropicConfig, standard_presets
from ..validation import check_positive_odd_int, typed_config


@typed_config
class IsoPoolFormerConfig(IsotropicConfig):
    """An isotropic PoolFormer (Yu et al. 2022, "MetaFormer is actually what you need for vision"): average pooling
    minus the identity over the patch grid as the token mixer (`layers.mixers.pooling.PoolingMixer`), inside the
    skeleton's pre-norm residual block.

    Adds to `IsotropicConfig`:
        pool_size: odd side of the pooling window (the paper's 3).

    Our choices where the paper differs (its PoolFormer is hierarchical): one isotropic stage like the zoo's other
    variants, LayerNorm over channels per token instead of the paper's GroupNorm with one group, and no layer scale,
    so that only the token mixer differs from IsoConvNet and IsoTransformer. Pooling mixes only grid positions, so
    there is no class token (`pooling` must be `"mean"`) and no position embedding by default.
    """

    model_type = "iso_poolformer"
    token_mixer = "pooling"
    presets = standard_presets(with_heads=False)

    position_embedding: str = "none"
    pooling: str = "mean"
    pool_size: int = 3

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        check_positive_odd_int(self, "pool_size")
        self.check_patch_tokens_only("IsoPoolFormer")
