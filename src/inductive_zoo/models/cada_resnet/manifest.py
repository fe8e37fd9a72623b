"""CADA-ResNet as the zoo sees it, with CADA's ablation recipes."""

from ..manifest import VariantManifest, VariantRecipe
from .configuration_cada_resnet import CADAResNetConfig
from .modeling_cada_resnet import (
    CADAResNetForImageClassification,
    CADAResNetForMaskedImageModeling,
    CADAResNetModel,
)

# CADA's ablation (Arizumi 2022): (name, what, config overrides) of the CADA layers.
CADA_ABLATION = (
    ("dwconv", "plain depthwise 3x3 convolution", "invariance=strict,num_bases=1,relative_position=false"),
    ("strict", "strict invariance (position-independent mix of 4 bases + R)", "invariance=strict"),
    ("relaxed", "relaxed invariance (context-aware mix of 4 bases + R)", "invariance=relaxed"),
    ("relaxed-no-rel", "relaxed invariance without the relative-position kernel R", "relative_position=false"),
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
    recipes=(
        VariantRecipe(
            "cifar10-10pct-cada-resnet",
            "CADA-ResNet (small layout: ImageNet stem, 2-2-2-2 bottlenecks of 32-64-128-256), on 10 % of CIFAR-10, "
            "torch.compile",
            "cifar10-10pct",
            # torch.compile: its fastest mode on CPU where measured (training/RESULTS.md, "Execution modes");
            # verified through Trainer's resume and the EMA (tests/test_ema.py).
            {
                "model_type": "cada_resnet",
                "preset": "small-stem4-32",
                "config_overrides": "drop_path_rate=0.05",
                "torch_compile": True,
            },
        ),
        VariantRecipe(
            "cifar10-10pct-fast-cada-resnet",
            "CADA-ResNet (small layout), on 10 % of CIFAR-10, with the fast-training options (whitened stem, "
            "alternating flips, TTA), eager in the machine's precision",
            "cifar10-10pct-fast",
            {"model_type": "cada_resnet", "preset": "small-stem4-32", "config_overrides": "drop_path_rate=0.05"},
        ),
        # CADA's ablation on a small CADA-ResNet (about 10 minutes each on 2 cores).
        *(
            VariantRecipe(
                f"cifar10-10pct-cada-ablation-{name}",
                f"CADA ablation (tiny-stem4-32 layout): {description}, on 10 % of CIFAR-10",
                "cifar10-10pct",
                {"model_type": "cada_resnet", "preset": "tiny-stem4-32", "config_overrides": overrides},
            )
            for name, description, overrides in CADA_ABLATION
        ),
        VariantRecipe(
            "cifar10-full-cada-resnet",
            "CADA-ResNet-26 on all of CIFAR-10, 200 epochs (GPU)",
            "cifar10-full-sgd",
            {"model_type": "cada_resnet", "preset": "resnet26-32", "num_train_epochs": 200},
        ),
    ),
    token_model=False,
    smoke_preset="micro-32",
)

MANIFESTS = (CADA_RESNET,)
