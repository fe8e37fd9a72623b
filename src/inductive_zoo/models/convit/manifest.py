"""ConViT as the zoo sees it."""

from ..isotropic.manifest import TOKEN_TEST_CONFIG, full_data_recipe
from ..manifest import ATTENTION_144, ATTENTION_144_FIELDS, VariantManifest, VariantRecipe, overrides_text
from .configuration_convit import ConViTConfig
from .modeling_convit import ConViTForImageClassification, ConViTForMaskedImageModeling, ConViTModel

CONVIT = VariantManifest(
    display_name="ConViT",
    config_class=ConViTConfig,
    model_class=ConViTModel,
    image_classification_class=ConViTForImageClassification,
    masked_image_modeling_class=ConViTForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "num_attention_heads": 4, "local_up_to_layer": 1},
    recipes=(
        VariantRecipe(
            "cifar10-10pct-convit",
            "ConViT, 7 x 144 (6 GPSA blocks), on 10 % of CIFAR-10",
            "cifar10-10pct",
            {
                "model_type": "convit",
                "preset": "micro-patch4-32",
                "config_overrides": ATTENTION_144 + ",local_up_to_layer=6",
            },
        ),
        VariantRecipe(
            "cifar10-10pct-fast-convit",
            "ConViT, 7 x 144 (6 GPSA blocks), on 10 % of CIFAR-10, with its released row's settings (RandAugment off, "
            "stochastic depth 0.2) and the fast-training options (whitened stem, alternating flips, TTA)",
            "cifar10-10pct-fast",
            {
                "model_type": "convit",
                "preset": "micro-patch4-32",
                "config_overrides": overrides_text(
                    {**ATTENTION_144_FIELDS, "drop_path_rate": 0.2, "local_up_to_layer": 6}
                ),
                "auto_augment": None,
            },
        ),
        full_data_recipe("convit", "ConViT"),
    ),
    attention_heads=True,
    local_layers_field="local_up_to_layer",
)

MANIFESTS = (CONVIT,)
