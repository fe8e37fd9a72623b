"""IBiT as the zoo sees it."""

from ..isotropic.manifest import TOKEN_TEST_CONFIG
from ..manifest import VariantManifest
from .configuration_ibit import IBiTConfig
from .modeling_ibit import IBiTForImageClassification, IBiTForMaskedImageModeling, IBiTModel

IBIT = VariantManifest(
    display_name="IBiT",
    config_class=IBiTConfig,
    model_class=IBiTModel,
    image_classification_class=IBiTForImageClassification,
    masked_image_modeling_class=IBiTForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "num_attention_heads": 4, "mask_rank": 4},
)

MANIFESTS = (IBIT,)
