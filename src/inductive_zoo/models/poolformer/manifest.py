"""IsoPoolFormer as the zoo sees it."""

from ..isotropic.manifest import TOKEN_TEST_CONFIG
from ..manifest import VariantManifest
from .configuration_poolformer import IsoPoolFormerConfig
from .modeling_poolformer import (
    IsoPoolFormerForImageClassification,
    IsoPoolFormerForMaskedImageModeling,
    IsoPoolFormerModel,
)

ISO_POOLFORMER = VariantManifest(
    display_name="IsoPoolFormer",
    config_class=IsoPoolFormerConfig,
    model_class=IsoPoolFormerModel,
    image_classification_class=IsoPoolFormerForImageClassification,
    masked_image_modeling_class=IsoPoolFormerForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "pool_size": 3},
)

MANIFESTS = (ISO_POOLFORMER,)
