"""Each variant's recipes: what belongs to its model (model type, preset, config fields as a dict, schedules, epochs
where they differ) on top of a base recipe of `training.recipes` (`BASE_ARGUMENTS`), which supplies the data,
optimiser, augmentation and schedule. A variant's main recipe on a base B is named `B-{model type with dashes}`
(`recipes.recipe_name`: the one `release` trains); others (ablations) name themselves.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The bases a variant's recipe extends: 10 % of CIFAR-10 on CPU (`-fast`: with the fastest CIFAR-10 recipes'
# options), all of it on a GPU with AdamW, or with SGD (ResNets).
BASE_RECIPES = (
    "cifar10-10pct",
    "cifar10-10pct-fast",
    "cifar10-10pct-distilled",
    "cifar10-10pct-semi-supervised",
    "cifar10-full",
    "cifar10-full-sgd",
)

# The width and depth of the isotropic 10 % recipes: 7 blocks of 144 (9 heads of 16, one per 3x3 tap for PRS-ViT),
# MLP ratio 2, about 1.2 M parameters for the transformers, small enough for 50 epochs on one CPU core; the
# convolutional stem (Xiao et al. 2021; two stride-2 3x3 convolutions) won over the linear patch embedding in the
# tuning runs (training/RESULTS.md, "Tuning").
ISOTROPIC_144: dict[str, Any] = {
    "hidden_size": 144,
    "num_hidden_layers": 7,
    "intermediate_size": 288,
    "drop_path_rate": 0.1,
    "patch_embedding": "conv_stem",
}
ATTENTION_144: dict[str, Any] = {**ISOTROPIC_144, "num_attention_heads": 9}
# The released transformers' settings (IBiT's tuning runs D and F, training/RESULTS.md, "Tuning IBiT"): stochastic
# depth 0.2, RandAugment off.
ATTENTION_144_DEPTH_02: dict[str, Any] = {**ATTENTION_144, "drop_path_rate": 0.2}
TEN_PERCENT_PRESET = "micro-patch4-32"
FAST_OPTIONS_WORDS = "the fast-training options (whitened stem, alternating flips, TTA)"


@dataclass(frozen=True)
class VariantRecipe:
    """A named recipe of one variant: `arguments` of `inductive-zoo train` that belong to the model, on top of
    `base`, one of `BASE_RECIPES`, which supplies everything else. `config_overrides` is a dict of config fields."""

    name: str
    description: str
    base: str
    arguments: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.base not in BASE_RECIPES:
            raise ValueError(f"recipe {self.name!r}: base must be one of {BASE_RECIPES}, got {self.base!r}")


def distilled_recipe(fast: VariantRecipe, display_name: str) -> VariantRecipe:
    """The `cifar10-10pct-distilled` twin of a variant's `-fast` recipe: the same arguments, with the FastConvNet
    baseline as its teacher (`recipes.BASE_ARGUMENTS["cifar10-10pct-distilled"]`)."""
    return VariantRecipe(
        fast.name.replace("cifar10-10pct-fast-", "cifar10-10pct-distilled-"),
        f"{display_name}'s -fast recipe distilled from the FastConvNet baseline (soft, alpha 0.9, T 4; train the "
        "teacher first: training/train_zoo.sh cifar10-10pct-fast-convnet)",
        "cifar10-10pct-distilled",
        fast.arguments,
    )


def semi_supervised_recipe(fast: VariantRecipe, display_name: str, arguments: dict[str, Any]) -> VariantRecipe:
    """The `cifar10-10pct-semi-supervised` twin of a variant's `-fast` recipe: its arguments with `arguments` over
    them (PRS-ViT's convolution epochs, scaled to the base's 5 epochs), distilled from the FastConvNet baseline on
    the labelled 10 % and the other 45,000 training images without labels
    (`recipes.BASE_ARGUMENTS["cifar10-10pct-semi-supervised"]`)."""
    return VariantRecipe(
        fast.name.replace("cifar10-10pct-fast-", "cifar10-10pct-semi-supervised-"),
        f"{display_name}'s -fast recipe distilled from the FastConvNet baseline on the 5,000 labelled images and the "
        "other 45,000 training images without their labels, 5 epochs (about the -fast recipe's 2,000 steps; train "
        "the teacher first: training/train_zoo.sh cifar10-10pct-fast-convnet)",
        "cifar10-10pct-semi-supervised",
        {**fast.arguments, **arguments},
    )


def ten_percent_recipes(
    model_type: str,
    display_name: str,
    what: str,
    fields: dict[str, Any],
    fast: dict[str, Any] | None = None,
    distilled: bool = False,
    semi_supervised: dict[str, Any] | None = None,
    **arguments: Any,
) -> tuple[VariantRecipe, ...]:
    """A variant's `cifar10-10pct` recipe (its `TEN_PERCENT_PRESET` with config `fields` and `arguments`), its
    `cifar10-10pct-fast` recipe (the same with the fast-training options, `fast`'s arguments and config fields over
    them), with `distilled` the `-fast` recipe's `distilled_recipe` and, where `semi_supervised` is given (arguments
    over the `-fast` ones), its `semi_supervised_recipe`."""
    dashed = model_type.replace("_", "-")
    model = {"model_type": model_type, "preset": TEN_PERCENT_PRESET, **arguments}
    fast = dict(fast or {})
    fast_fields = {**fields, **fast.pop("config_overrides", {})}
    settings = " and the released transformers' settings (RandAugment off, stochastic depth 0.2)" if fast else ""
    recipes = (
        VariantRecipe(
            f"cifar10-10pct-{dashed}",
            f"{display_name} ({what}), 7 x 144, on 10 % of CIFAR-10",
            "cifar10-10pct",
            {**model, "config_overrides": fields},
        ),
        VariantRecipe(
            f"cifar10-10pct-fast-{dashed}",
            f"{display_name} ({what}), 7 x 144, on 10 % of CIFAR-10, with {FAST_OPTIONS_WORDS}{settings}",
            "cifar10-10pct-fast",
            {**model, "config_overrides": fast_fields, **fast},
        ),
    )
    if distilled:
        recipes = (*recipes, distilled_recipe(recipes[1], display_name))
    if semi_supervised is not None:
        recipes = (*recipes, semi_supervised_recipe(recipes[1], display_name, semi_supervised))
    return recipes


def full_data_recipe(model_type: str, display_name: str, **arguments: object) -> VariantRecipe:
    """A variant's full-CIFAR-10 recipe at DeiT-Ti/ConViT-Ti width (the papers' scale, GPU)."""
    return VariantRecipe(
        f"cifar10-full-{model_type.replace('_', '-')}",
        f"{display_name} at DeiT-Ti/ConViT-Ti width on all of CIFAR-10, 100 epochs (GPU)",
        "cifar10-full",
        {"model_type": model_type, "preset": "tiny-patch4-32", **arguments},
    )


# The released transformers' fast settings over their 10 % recipe.
RELEASED_TRANSFORMER_SETTINGS = {"config_overrides": {"drop_path_rate": 0.2}, "auto_augment": None}

# CADA's ablation (Arizumi 2022): (name, what, config fields) of the CADA layers.
CADA_ABLATION = (
    ("dwconv", "plain depthwise 3x3 convolution", {"invariance": "strict", "num_bases": 1, "relative_position": False}),
    ("strict", "strict invariance (position-independent mix of 4 bases + R)", {"invariance": "strict"}),
    ("relaxed", "relaxed invariance (context-aware mix of 4 bases + R)", {"invariance": "relaxed"}),
    ("relaxed-no-rel", "relaxed invariance without the relative-position kernel R", {"relative_position": False}),
)

# By model type, each variant's main 10 % recipe first.
VARIANT_RECIPES: dict[str, tuple[VariantRecipe, ...]] = {
    "iso_transformer": (
        *ten_percent_recipes(
            "iso_transformer",
            "IsoTransformer",
            "ViT/DeiT, the unbiased control",
            ATTENTION_144,
            RELEASED_TRANSFORMER_SETTINGS,
            distilled=True,
        ),
        full_data_recipe("iso_transformer", "IsoTransformer"),
    ),
    "iso_mixer": (
        *ten_percent_recipes("iso_mixer", "IsoMixer", "MLP-Mixer token mixing", ISOTROPIC_144),
        full_data_recipe("iso_mixer", "IsoMixer"),
    ),
    "iso_convnet": (
        *ten_percent_recipes(
            "iso_convnet", "IsoConvNet", "ConvMixer-like, 5x5 depthwise", ISOTROPIC_144, distilled=True
        ),
        full_data_recipe("iso_convnet", "IsoConvNet"),
    ),
    "iso_poolformer": (
        *ten_percent_recipes("iso_poolformer", "IsoPoolFormer", "3x3 average pooling minus identity", ISOTROPIC_144),
        full_data_recipe("iso_poolformer", "IsoPoolFormer"),
    ),
    "convit": (
        *ten_percent_recipes(
            "convit",
            "ConViT",
            "6 GPSA blocks",
            {**ATTENTION_144, "local_up_to_layer": 6},
            RELEASED_TRANSFORMER_SETTINGS,
            distilled=True,
        ),
        full_data_recipe("convit", "ConViT"),
    ),
    "prs_vit": (
        *ten_percent_recipes(
            "prs_vit",
            "PRS-ViT",
            "6 reparameterizable blocks, linear schedule, E = 25",
            {**ATTENTION_144, "num_reparameterizable_layers": 6},
            RELEASED_TRANSFORMER_SETTINGS,
            distilled=True,
            # 25 of 50 convolution epochs become 3 of 5: the layers switch at about the same share of the run.
            semi_supervised={"conv_epochs": 3},
            schedule="linear",
            conv_epochs=25,
        ),
        full_data_recipe("prs_vit", "PRS-ViT", schedule="linear", conv_epochs=50),
    ),
    # IBiT's 10 % recipe has the released transformers' settings too: its tuning runs chose them.
    "ibit": (
        *ten_percent_recipes(
            "ibit",
            "IBiT",
            "learned low-rank attention masks",
            ATTENTION_144_DEPTH_02,
            RELEASED_TRANSFORMER_SETTINGS,
            distilled=True,
            auto_augment=None,
        ),
        full_data_recipe("ibit", "IBiT"),
    ),
    "cada_resnet": (
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
                "config_overrides": {"drop_path_rate": 0.05},
                "torch_compile": True,
            },
        ),
        VariantRecipe(
            "cifar10-10pct-fast-cada-resnet",
            f"CADA-ResNet (small layout), on 10 % of CIFAR-10, with {FAST_OPTIONS_WORDS}, eager in the machine's "
            "precision",
            "cifar10-10pct-fast",
            {"model_type": "cada_resnet", "preset": "small-stem4-32", "config_overrides": {"drop_path_rate": 0.05}},
        ),
        # CADA's ablation on a small CADA-ResNet (about 10 minutes each on 2 cores).
        *(
            VariantRecipe(
                f"cifar10-10pct-cada-ablation-{name}",
                f"CADA ablation (tiny-stem4-32 layout): {description}, on 10 % of CIFAR-10",
                "cifar10-10pct",
                {"model_type": "cada_resnet", "preset": "tiny-stem4-32", "config_overrides": fields},
            )
            for name, description, fields in CADA_ABLATION
        ),
        VariantRecipe(
            "cifar10-full-cada-resnet",
            "CADA-ResNet-26 on all of CIFAR-10, 200 epochs (GPU)",
            "cifar10-full-sgd",
            {"model_type": "cada_resnet", "preset": "resnet26-32", "num_train_epochs": 200},
        ),
    ),
}
