"""The isotropic family's three variants (Cazenavette & Lucey 2021), as the zoo sees them."""

from ..manifest import (
    ATTENTION_144,
    ATTENTION_144_FIELDS,
    ISOTROPIC_144,
    VariantManifest,
    VariantRecipe,
    overrides_text,
)
from .configuration_isotropic import IsoConvNetConfig, IsoMixerConfig, IsoTransformerConfig
from .modeling_isotropic import (
    IsoConvNetForImageClassification,
    IsoConvNetForMaskedImageModeling,
    IsoConvNetModel,
    IsoMixerForImageClassification,
    IsoMixerForMaskedImageModeling,
    IsoMixerModel,
    IsoTransformerForImageClassification,
    IsoTransformerForMaskedImageModeling,
    IsoTransformerModel,
)

# Small enough to run every common test on every class in seconds; large enough to exercise every code path.
TOKEN_TEST_CONFIG = dict(
    image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=2, intermediate_size=64, num_labels=5
)  # fmt: skip
FULL_DATA_PRESET = {"preset": "tiny-patch4-32"}


def full_data_recipe(model_type: str, display_name: str, **arguments: object) -> VariantRecipe:
    """A variant's full-CIFAR-10 recipe at DeiT-Ti/ConViT-Ti width (the papers' scale, GPU)."""
    return VariantRecipe(
        f"cifar10-full-{model_type.replace('_', '-')}",
        f"{display_name} at DeiT-Ti/ConViT-Ti width on all of CIFAR-10, 100 epochs (GPU)",
        "cifar10-full",
        {"model_type": model_type, **FULL_DATA_PRESET, **arguments},
    )


ISO_TRANSFORMER = VariantManifest(
    display_name="IsoTransformer",
    config_class=IsoTransformerConfig,
    model_class=IsoTransformerModel,
    image_classification_class=IsoTransformerForImageClassification,
    masked_image_modeling_class=IsoTransformerForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "num_attention_heads": 4},
    recipes=(
        VariantRecipe(
            "cifar10-10pct-iso-transformer",
            "IsoTransformer (ViT/DeiT, the unbiased control), 7 x 144, on 10 % of CIFAR-10",
            "cifar10-10pct",
            {
                "model_type": "iso_transformer",
                "preset": "micro-patch4-32",
                "config_overrides": ATTENTION_144,
            },
        ),
        VariantRecipe(
            "cifar10-10pct-fast-iso-transformer",
            "IsoTransformer (the unbiased control), 7 x 144, on 10 % of CIFAR-10, with its released row's settings "
            "(RandAugment off, stochastic depth 0.2) and the fast-training options (whitened stem, alternating flips, "
            "TTA)",
            "cifar10-10pct-fast",
            {
                "model_type": "iso_transformer",
                "preset": "micro-patch4-32",
                "config_overrides": overrides_text({**ATTENTION_144_FIELDS, "drop_path_rate": 0.2}),
                "auto_augment": None,
            },
        ),
        full_data_recipe("iso_transformer", "IsoTransformer"),
    ),
    attention_heads=True,
)

ISO_MIXER = VariantManifest(
    display_name="IsoMixer",
    config_class=IsoMixerConfig,
    model_class=IsoMixerModel,
    image_classification_class=IsoMixerForImageClassification,
    masked_image_modeling_class=IsoMixerForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "token_mixing_hidden_size": 24},
    recipes=(
        VariantRecipe(
            "cifar10-10pct-iso-mixer",
            "IsoMixer (MLP-Mixer token mixing), 7 x 144, on 10 % of CIFAR-10",
            "cifar10-10pct",
            {"model_type": "iso_mixer", "preset": "micro-patch4-32", "config_overrides": ISOTROPIC_144},
        ),
        VariantRecipe(
            "cifar10-10pct-fast-iso-mixer",
            "IsoMixer, 7 x 144, on 10 % of CIFAR-10, with the fast-training options (whitened stem, alternating flips, "
            "TTA)",
            "cifar10-10pct-fast",
            {"model_type": "iso_mixer", "preset": "micro-patch4-32", "config_overrides": ISOTROPIC_144},
        ),
        full_data_recipe("iso_mixer", "IsoMixer"),
    ),
    fixed_image_size=True,
    resizable=False,
)

ISO_CONVNET = VariantManifest(
    display_name="IsoConvNet",
    config_class=IsoConvNetConfig,
    model_class=IsoConvNetModel,
    image_classification_class=IsoConvNetForImageClassification,
    masked_image_modeling_class=IsoConvNetForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "kernel_size": 3},
    recipes=(
        VariantRecipe(
            "cifar10-10pct-iso-convnet",
            "IsoConvNet (ConvMixer-like, 5x5 depthwise), 7 x 144, on 10 % of CIFAR-10",
            "cifar10-10pct",
            {"model_type": "iso_convnet", "preset": "micro-patch4-32", "config_overrides": ISOTROPIC_144},
        ),
        VariantRecipe(
            "cifar10-10pct-fast-iso-convnet",
            "IsoConvNet, 7 x 144, on 10 % of CIFAR-10, with the fast-training options (whitened stem, alternating "
            "flips, TTA)",
            "cifar10-10pct-fast",
            {"model_type": "iso_convnet", "preset": "micro-patch4-32", "config_overrides": ISOTROPIC_144},
        ),
        full_data_recipe("iso_convnet", "IsoConvNet"),
    ),
    class_token=False,
)

MANIFESTS = (ISO_TRANSFORMER, ISO_MIXER, ISO_CONVNET)
