"""IsoPoolFormer: PoolFormer's pooling token mixer (Yu et al. 2022) on the isotropic skeleton."""

# Imported to register "pooling", the mixer the config names.
from ...layers.mixers.pooling import PoolingMixer  # noqa: F401
from ..skeleton.modeling_skeleton import (
    IsotropicForImageClassification,
    IsotropicForMaskedImageModeling,
    IsotropicModel,
)
from .configuration_poolformer import IsoPoolFormerConfig


class IsoPoolFormerModel(IsotropicModel):
    """Isotropic PoolFormer backbone: a parameter-free pooling token mixer in every block."""

    config_class = IsoPoolFormerConfig
    supports_class_token = False


class IsoPoolFormerForImageClassification(IsotropicForImageClassification):
    """`IsoPoolFormerModel` with a linear classifier on the mean-pooled tokens."""

    config_class = IsoPoolFormerConfig
    backbone_class = IsoPoolFormerModel


class IsoPoolFormerForMaskedImageModeling(IsotropicForMaskedImageModeling):
    """`IsoPoolFormerModel` pre-trained by masked patch reconstruction (see `IsotropicForMaskedImageModeling`)."""

    config_class = IsoPoolFormerConfig
    backbone_class = IsoPoolFormerModel
