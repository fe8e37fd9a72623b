"""PRS-ViT as the zoo sees it."""

from ..isotropic.manifest import TOKEN_TEST_CONFIG, full_data_recipe
from ..manifest import ATTENTION_144, ATTENTION_144_FIELDS, VariantManifest, VariantRecipe, overrides_text
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
    recipes=(
        VariantRecipe(
            "cifar10-10pct-prs-vit",
            "PRS-ViT, 7 x 144 (6 reparameterizable blocks, linear schedule, E = 25), on 10 % of CIFAR-10",
            "cifar10-10pct",
            {
                "model_type": "prs_vit",
                "preset": "micro-patch4-32",
                "schedule": "linear",
                "conv_epochs": 25,
                "config_overrides": ATTENTION_144 + ",num_reparameterizable_layers=6",
            },
        ),
        VariantRecipe(
            "cifar10-10pct-fast-prs-vit",
            "PRS-ViT, 7 x 144, on 10 % of CIFAR-10, with IBiT's settings (RandAugment off, stochastic depth 0.2) and "
            "the fast-training options (whitened stem, alternating flips, TTA)",
            "cifar10-10pct-fast",
            {
                "model_type": "prs_vit",
                "preset": "micro-patch4-32",
                "schedule": "linear",
                "conv_epochs": 25,
                "config_overrides": overrides_text(
                    {**ATTENTION_144_FIELDS, "drop_path_rate": 0.2, "num_reparameterizable_layers": 6}
                ),
                "auto_augment": None,
            },
        ),
        full_data_recipe("prs_vit", "PRS-ViT", schedule="linear", conv_epochs=50),
    ),
    attention_heads=True,
    local_layers_field="num_reparameterizable_layers",
)

MANIFESTS = (PRS_VIT,)
