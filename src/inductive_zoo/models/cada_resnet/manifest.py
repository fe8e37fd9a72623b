"""CADA-ResNet as the zoo sees it."""

from ..manifest import VariantManifest
from .configuration_cada_resnet import CADAResNetConfig
from .modeling_cada_resnet import (
    CADAResNetForImageClassification,
    CADAResNetForMaskedImageModeling,
    CADAResNetModel,
)

CADA_RESNET = VariantManifest(
    display_name="CADA-ResNet",
    config_class=CADAResNetConfig,
    model_class=CADAResNetModel,
    image_classification_class=CADAResNetForImageClassification,
    masked_image_modeling_class=CADAResNetForMaskedImageModeling,
    # Two stages (the second with a stride-2 and a stride-1 block), two context groups of two bases.
    test_config=dict(
        image_size=16,
        stem="cifar",
        stem_width=8,
        depths=[1, 2],
        bottleneck_widths=[4, 8],
        num_bases=2,
        context_groups=2,
        num_labels=5,
    ),
    smoke_preset="micro-32",
)

MANIFESTS = (CADA_RESNET,)
