"""The isotropic family's three variants (Cazenavette & Lucey 2021), as the zoo sees them."""

from ..manifest import VariantManifest
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

ISO_TRANSFORMER = VariantManifest(
    display_name="IsoTransformer",
    config_class=IsoTransformerConfig,
    model_class=IsoTransformerModel,
    image_classification_class=IsoTransformerForImageClassification,
    masked_image_modeling_class=IsoTransformerForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "num_attention_heads": 4},
)

ISO_MIXER = VariantManifest(
    display_name="IsoMixer",
    config_class=IsoMixerConfig,
    model_class=IsoMixerModel,
    image_classification_class=IsoMixerForImageClassification,
    masked_image_modeling_class=IsoMixerForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "token_mixing_hidden_size": 24},
)

ISO_CONVNET = VariantManifest(
    display_name="IsoConvNet",
    config_class=IsoConvNetConfig,
    model_class=IsoConvNetModel,
    image_classification_class=IsoConvNetForImageClassification,
    masked_image_modeling_class=IsoConvNetForMaskedImageModeling,
    test_config={**TOKEN_TEST_CONFIG, "kernel_size": 3},
)

MANIFESTS = (ISO_TRANSFORMER, ISO_MIXER, ISO_CONVNET)
