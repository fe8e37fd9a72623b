"""PRS-ViT as the zoo sees it."""

from ..isotropic.manifest import TOKEN_TEST_CONFIG
from ..manifest import VariantManifest
from .configuration_prs_vit import PRSViTConfig
from .modeling_prs_vit import (
    PRSViTForImageClassification,
    PRSViTForMaskedImageModeling,
    PRSViTModel,
)

PRS_VIT = VariantManifest(
    display_name="PRS-ViT",
    config_class=PRSViTConfig,
    model_class=PRSViTModel,
    image_classification_class=PRSViTForImageClassification,
    masked_image_modeling_class=PRSViTForMaskedImageModeling,
    test_config={
        **TOKEN_TEST_CONFIG,
        "hidden_size": 36,
        "num_attention_heads": 9,
        "kernel_size": 3,
        "num_reparameterizable_layers": 1,
    },
)

MANIFESTS = (PRS_VIT,)
