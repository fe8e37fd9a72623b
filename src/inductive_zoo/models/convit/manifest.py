"""ConViT as the zoo sees it."""

from ..isotropic.manifest import TOKEN_TEST_CONFIG
from ..manifest import VariantManifest
from .configuration_convit import ConViTConfig
from .modeling_convit import ConViTForImageClassification, ConViTForMaskedImageModeling, ConViTModel

CONVIT = VariantManifest(
    display_name="ConViT",
    config_class=ConViTConfig,
    model_class=ConViTModel,
    image_classification_class=ConViTForImageClassification,
    masked_image_modeling_class=ConViTForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "num_attention_heads": 4, "local_up_to_layer": 1},
)

MANIFESTS = (CONVIT,)
