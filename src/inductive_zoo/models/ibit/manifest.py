"""IBiT as the zoo sees it."""

from ..isotropic.manifest import TOKEN_TEST_CONFIG, full_data_recipe
from ..manifest import ATTENTION_144_FIELDS, VariantManifest, VariantRecipe, overrides_text
from .configuration_ibit import IBiTConfig
from .modeling_ibit import IBiTForImageClassification, IBiTForMaskedImageModeling, IBiTModel

IBIT = VariantManifest(
    display_name="IBiT",
    config_class=IBiTConfig,
    model_class=IBiTModel,
    image_classification_class=IBiTForImageClassification,
    masked_image_modeling_class=IBiTForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "num_attention_heads": 4, "mask_rank": 4},
    recipes=(
        VariantRecipe(
            "cifar10-10pct-ibit",
            "IBiT, 7 x 144, on 10 % of CIFAR-10, without RandAugment and with stochastic depth 0.2 (tuning run F)",
            "cifar10-10pct",
            # RandAugment off and stochastic depth 0.2, as the tuning runs on the validation split chose
            # (training/RESULTS.md, "Tuning IBiT", runs D and F).
            {
                "model_type": "ibit",
                "preset": "micro-patch4-32",
                "config_overrides": overrides_text({**ATTENTION_144_FIELDS, "drop_path_rate": 0.2}),
                "auto_augment": None,
            },
        ),
        VariantRecipe(
            "cifar10-10pct-fast-ibit",
            "IBiT, 7 x 144, on 10 % of CIFAR-10, with its recipe's settings (RandAugment off, stochastic depth 0.2) "
            "and the fast-training options (whitened stem, alternating flips, TTA)",
            "cifar10-10pct-fast",
            {
                "model_type": "ibit",
                "preset": "micro-patch4-32",
                "config_overrides": overrides_text({**ATTENTION_144_FIELDS, "drop_path_rate": 0.2}),
                "auto_augment": None,
            },
        ),
        full_data_recipe("ibit", "IBiT"),
    ),
    fixed_image_size=True,
    attention_heads=True,
)

MANIFESTS = (IBIT,)
