"""IsoPoolFormer as the zoo sees it."""

from ..isotropic.manifest import TOKEN_TEST_CONFIG, full_data_recipe
from ..manifest import ISOTROPIC_144, VariantManifest, VariantRecipe
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
    recipes=(
        VariantRecipe(
            "cifar10-10pct-iso-poolformer",
            "IsoPoolFormer (3x3 average pooling minus identity), 7 x 144, on 10 % of CIFAR-10",
            "cifar10-10pct",
            {
                "model_type": "iso_poolformer",
                "preset": "micro-patch4-32",
                "config_overrides": ISOTROPIC_144,
            },
        ),
        VariantRecipe(
            "cifar10-10pct-fast-iso-poolformer",
            "IsoPoolFormer, 7 x 144, on 10 % of CIFAR-10, with the fast-training options (whitened stem, alternating "
            "flips, TTA)",
            "cifar10-10pct-fast",
            {"model_type": "iso_poolformer", "preset": "micro-patch4-32", "config_overrides": ISOTROPIC_144},
        ),
        full_data_recipe("iso_poolformer", "IsoPoolFormer"),
    ),
    class_token=False,
)

MANIFESTS = (ISO_POOLFORMER,)
