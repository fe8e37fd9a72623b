"""The catalogue of training recipes: each recipe is defined once, named, and expands to the command line of
`inductive-zoo train` (`inductive-zoo train --recipe NAME [arguments that override it]`). `release`, the README's zoo
table and the released model cards read it, so a row of the table names the recipe that trained it.

A recipe holds everything that decides the result: variant, preset and config overrides (width, depth, stochastic
depth), epochs, batch size, optimiser and schedule, augmentation (RandAugment/TrivialAugment, mixup/CutMix, random
erasing), label smoothing, the weights' moving average, precision, and the data it is meant for (training fraction,
the evaluation slice used every epoch). The dataset, output directory and seed are the caller's.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from ..models.registry import MANIFESTS
from .config_overrides import overrides_text
from .records import argument_value
from .variant_recipes import ISOTROPIC_144, VARIANT_RECIPES, VariantRecipe

logger = logging.getLogger(__name__)

# --- shared pieces -------------------------------------------------------------------------------------------------

# Evaluate a fixed 2,000-image slice of the test split every epoch (with wall time), the whole split at the end.
EPOCH_EVALUATION = {
    "do_train": True, "do_eval": True, "eval_strategy": "epoch", "save_strategy": "epoch", "save_total_limit": 1,
    "epoch_eval_samples": 2000, "per_device_eval_batch_size": 500, "logging_steps": 20, "report_to": "none",
    "dataloader_num_workers": 0,
}  # fmt: skip
# The small-data recipe, chosen on the validation split (`--validation_size 5000`, see training/RESULTS.md, "Tuning"):
# pad-4 crop + flip and RandAugment(2, 9), label smoothing 0.1, stochastic depth, an EMA of the weights, AdamW with
# cosine decay and 10 % warm-up. Mixup/CutMix and random erasing (options of the recipe) are off: at 50 epochs they
# slowed learning in the tuning runs. IBiT's recipe turns RandAugment off (its own tuning runs). The zoo's rows were
# trained with one augmentation draw per batch (cheaper on one process; a multi-process run of these recipes warns
# that it cannot match one process).
SMALL_DATA_AUGMENTATION = {
    "crop_padding": 4, "hflip_prob": 0.5, "colour_jitter": 0.0, "auto_augment": "randaugment",
    "randaugment_num_ops": 2, "randaugment_magnitude": 9, "label_smoothing_factor": 0.1, "per_image_draws": False,
}  # fmt: skip
ADAMW = {
    "per_device_train_batch_size": 128, "optim": "adamw_torch", "learning_rate": 1e-3, "weight_decay": 0.05,
    "lr_scheduler_type": "cosine", "warmup_steps": 0.1, "max_grad_norm": 1.0, "model_ema_decay": 0.998,
}  # fmt: skip
# The standard ResNet optimiser (SGD with Nesterov momentum, cosine), for the full-data CADA-ResNet recipe.
SGD = {
    "per_device_train_batch_size": 128, "optim": "sgd", "optim_args": "momentum=0.9,nesterov=true",
    "learning_rate": 0.1, "weight_decay": 5e-4, "lr_scheduler_type": "cosine", "warmup_steps": 0.02,
}  # fmt: skip
TEN_PERCENT = {"train_fraction": 0.1, "subset_seed": 0}
# Execution mode, recorded in every recipe (the zoo table shows each row's): eager, in the precision the machine is
# fast at (`--precision auto`, `training.precision`: bf16 autocast on a CUDA GPU with bf16 and on a CPU with native
# bf16, fp32 elsewhere), except where a variant's recipe compiles (CADA-ResNet's: torch.compile, verified through
# Trainer's resume, the EMA and PRS's switches, tests/test_ema.py, slow). Rows trained before name the precision they
# ran in, so that they repeat on any machine.
AUTO_PRECISION_EAGER = {"precision": "auto", "torch_compile": False}
TEN_PERCENT_EPOCHS = 50
# Full CIFAR-10 on a GPU (the papers' scale): DeiT-Ti/ConViT-Ti widths, DeiT-style AdamW without mixup; 100 epochs.
FULL_DATA = {
    "do_train": True, "do_eval": True, "eval_strategy": "epoch", "save_strategy": "epoch", "save_total_limit": 2,
    "per_device_eval_batch_size": 500, "logging_steps": 50, "report_to": "none", "num_train_epochs": 100,
}  # fmt: skip
ADAMW_FULL_DATA = {
    "per_device_train_batch_size": 128, "optim": "adamw_torch", "learning_rate": 1e-3, "weight_decay": 0.05,
    "lr_scheduler_type": "cosine", "warmup_steps": 0.05,
}  # fmt: skip
# The fastest CIFAR-10 recipes' training (Page 2018, ResNet-9; Jordan 2024, airbench): SGD with Nesterov momentum at a
# large batch, a short warm-up and a linear decay, no gradient clipping, label smoothing 0.2, a crop shifted by up to
# 2 pixels with alternating flips, the images kept decoded in memory, channels-last, and test-time augmentation
# (mirror and one-pixel shifts) reported beside the plain evaluation.
FAST_SGD = {
    "per_device_train_batch_size": 500, "optim": "sgd", "optim_args": "momentum=0.9,nesterov=true",
    "learning_rate": 0.4, "weight_decay": 5e-4, "lr_scheduler_type": "linear", "warmup_steps": 0.1,
    "max_grad_norm": 0.0, "label_smoothing_factor": 0.2,
}  # fmt: skip
# The options of those recipes that any model can take (`cifar10-10pct-fast` adds them to `cifar10-10pct`).
FAST_OPTIONS = {
    "alternating_flip": True, "keep_decoded": True, "whitening_init": True, "channels_last": True, "tta_level": 2,
}  # fmt: skip
# FastConvNet's recipe adds RandAugment and leaves the whitening and the alternating flips out, as its runs on the
# validation split chose (training/RESULTS.md, "The options, one at a time").
FAST_DATA = {
    "crop_padding": 2, "colour_jitter": 0.0, "auto_augment": "randaugment", "randaugment_num_ops": 2,
    "randaugment_magnitude": 9, "per_image_draws": False, **FAST_OPTIONS, "whitening_init": False,
    "alternating_flip": False,
}  # fmt: skip
FAST_CONVNET_EPOCHS = 40
# Where `training/train_zoo.sh cifar10-10pct-fast-convnet` writes the FastConvNet baseline, the distilled recipes'
# teacher.
DISTILLATION_TEACHER_DIR = "outputs/zoo/cifar10-10pct-fast-convnet-s0"
# Soft targets at temperature 4, weight 0.9, chosen over DeiT's hard labels on the validation split
# (training/RESULTS.md, "Distillation"); semi-supervised: on every training image, only the 10 % subset's labels used.
SOFT_DISTILLATION = {
    "distillation_teacher": DISTILLATION_TEACHER_DIR, "distillation_kind": "soft", "distillation_alpha": 0.9,
    "distillation_temperature": 4.0,
}  # fmt: skip
SEMI_SUPERVISED_DISTILLATION = {**SOFT_DISTILLATION, "unlabelled_images": "all"}
# Over 50,000 images, about the 10 % recipes' steps: the transformers' 2,000 at batch 128, FastConvNet's 400 at 500.
SEMI_SUPERVISED_EPOCHS = 5
SELF_TRAINING_EPOCHS = 4
# The masked-image-modeling pre-training the `-from-mim` recipe fine-tunes (labels unused; at most 30 minutes).
MIM_PRETRAINED_DIR = "outputs/zoo/cifar10-90pct-mim-iso-convnet"
MIM_PRETRAINING_COMMAND = (
    "inductive-zoo pretrain --objective mim --model_type iso_convnet --preset micro-patch4-32 --config_overrides "
    f"{overrides_text({**ISOTROPIC_144, 'mim_norm_target': True})} --dataset ../shared/datasets/cifar10 "
    "--exclude_train_fraction 0.1 "
    f"--output_dir {MIM_PRETRAINED_DIR} --num_train_epochs 8 --per_device_train_batch_size 128 --learning_rate 1e-3 "
    "--weight_decay 0.05 --lr_scheduler_type cosine --warmup_steps 0.05 --save_strategy epoch --save_total_limit 1 "
    "--logging_steps 50 --report_to none --eval_bank_size 5000 --eval_size 2000"
)


@dataclass(frozen=True)
class Recipe:
    """A named recipe: `arguments` of `inductive-zoo train` (model, data and training arguments by field name;
    `True` for a flag; `config_overrides` a dict of config fields), and what it is for. `argv` spells it as a
    command line."""

    name: str
    description: str
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def model_type(self) -> str:
        return self.arguments["model_type"]

    @property
    def epochs(self) -> int:
        return int(self.arguments["num_train_epochs"])

    def argv(self) -> list[str]:
        """The recipe as command-line arguments: `--flag` for `True`, else `--name VALUE` spelled by
        `records.argument_value` (`--flag false`; `--name none` for `None`, so the recipe turns an option off
        itself rather than relying on its default)."""
        argv = []
        for name, value in self.arguments.items():
            if name == "config_overrides" and isinstance(value, dict):
                value = overrides_text(value)
            argv.extend([f"--{name}"] if value is True else [f"--{name}", argument_value(value)])
        return argv

    def command(self, dataset: str = "uoft-cs/cifar10", output_dir: str | None = None, seed: int = 0) -> str:
        """The shell command that runs the recipe (what `inductive-zoo recipes` prints)."""
        output_dir = output_dir or f"outputs/{self.name}"
        return f"inductive-zoo train --recipe {self.name} --dataset {dataset} --output_dir {output_dir} --seed {seed}"


def _ten_percent(name: str, description: str, model: dict[str, Any], epochs: int = TEN_PERCENT_EPOCHS) -> Recipe:
    arguments = {
        **model, **TEN_PERCENT, **ADAMW, **SMALL_DATA_AUGMENTATION, **EPOCH_EVALUATION, **AUTO_PRECISION_EAGER,
        "num_train_epochs": epochs,
    }  # fmt: skip
    return Recipe(name, description, arguments)


# What each base recipe of `variant_recipes.BASE_RECIPES` adds to a variant's own arguments (which win).
BASE_ARGUMENTS = {
    "cifar10-10pct": {
        **TEN_PERCENT, **ADAMW, **SMALL_DATA_AUGMENTATION, **EPOCH_EVALUATION, **AUTO_PRECISION_EAGER,
        "num_train_epochs": TEN_PERCENT_EPOCHS,
    },
    "cifar10-10pct-fast": {
        **TEN_PERCENT, **ADAMW, **SMALL_DATA_AUGMENTATION, **EPOCH_EVALUATION, **AUTO_PRECISION_EAGER,
        **FAST_OPTIONS, "num_train_epochs": TEN_PERCENT_EPOCHS,
    },
    # The -fast recipe with knowledge distillation from the FastConvNet baseline trained by its own recipe
    # (`training/train_zoo.sh cifar10-10pct-fast-convnet` writes it here): soft targets at temperature 4, weight 0.9,
    # chosen over DeiT's hard labels on the validation split (training/RESULTS.md, "Distillation").
    "cifar10-10pct-distilled": {
        **TEN_PERCENT, **ADAMW, **SMALL_DATA_AUGMENTATION, **EPOCH_EVALUATION, **AUTO_PRECISION_EAGER,
        **FAST_OPTIONS, **SOFT_DISTILLATION, "num_train_epochs": TEN_PERCENT_EPOCHS,
    },
    # The distilled recipe on all 50,000 training images, only the 10 % subset's labels used (semi-supervised
    # distillation, `--unlabelled_images all`): the teacher's predictions are the other images' only target. 5 epochs
    # take about the -fast recipe's 2,000 steps.
    "cifar10-10pct-semi-supervised": {
        **TEN_PERCENT, **ADAMW, **SMALL_DATA_AUGMENTATION, **EPOCH_EVALUATION, **AUTO_PRECISION_EAGER,
        **FAST_OPTIONS, **SEMI_SUPERVISED_DISTILLATION, "num_train_epochs": SEMI_SUPERVISED_EPOCHS,
    },
    "cifar10-full": {**ADAMW_FULL_DATA, **FULL_DATA, **AUTO_PRECISION_EAGER},
    "cifar10-full-sgd": {**SGD, **FULL_DATA, **AUTO_PRECISION_EAGER},
}  # fmt: skip


def variant_recipe(recipe: VariantRecipe) -> Recipe:
    """The catalogue recipe of a variant's manifest recipe: its base's arguments, then the variant's."""
    return Recipe(recipe.name, recipe.description, {**BASE_ARGUMENTS[recipe.base], **recipe.arguments})


# transformers' ResNet-18 layout (basic blocks), for the baselines.
RESNET18 = {"layer_type": "basic", "depths": [2, 2, 2, 2], "hidden_sizes": [64, 128, 256, 512]}


# The FastConvNet baseline's recipe (model included): the fastest CIFAR-10 recipes' training on the 10 % subset.
FAST_CONVNET = {
    "model_type": "fast_convnet", **TEN_PERCENT, **EPOCH_EVALUATION, **AUTO_PRECISION_EAGER, **FAST_SGD, **FAST_DATA,
    "num_train_epochs": FAST_CONVNET_EPOCHS,
}  # fmt: skip


def _catalogue() -> dict[str, Recipe]:
    variant_recipes = [
        variant_recipe(recipe) for manifest in MANIFESTS for recipe in VARIANT_RECIPES.get(manifest.model_type, ())
    ]
    # Each variant's main 10 % recipe first (the zoo table's order), then its other recipes.
    main_names = {recipe_name("cifar10-10pct", manifest.model_type) for manifest in MANIFESTS}
    recipes = sorted(variant_recipes, key=lambda recipe: recipe.name not in main_names)
    recipes += [
        # The isotropic paper's self-supervised case: IsoConvNet fine-tuned from masked reconstruction on the other 90%.
        _ten_percent(
            "cifar10-10pct-iso-convnet-from-mim",
            "IsoConvNet, 7 x 144, fine-tuned on 10 % of CIFAR-10 from masked image modeling on the other 90 % "
            f"(first: {MIM_PRETRAINING_COMMAND})",
            {"model_name_or_path": MIM_PRETRAINED_DIR, "model_type": "iso_convnet"},
        ),
        # Baselines: transformers' own models through the same recipe and epochs.
        _ten_percent(
            "cifar10-10pct-vit",
            "Baseline: transformers' ViTForImageClassification, 6 x 192, 3 heads, patch 4, on 10 % of CIFAR-10",
            {
                "model_type": "vit",
                "config_overrides": {
                    "image_size": 32,
                    "patch_size": 4,
                    "hidden_size": 192,
                    "num_hidden_layers": 6,
                    "num_attention_heads": 3,
                    "intermediate_size": 768,
                },
            },
        ),
        Recipe(
            "cifar10-10pct-fast-convnet",
            "Baseline: FastConvNet (airbench-like three-block convnet, 2.0 M parameters) with the fastest CIFAR-10 "
            "recipes' training (SGD-Nesterov at batch 500, RandAugment, TTA) on 10 % of CIFAR-10",
            FAST_CONVNET,
        ),
        # Self-training (Xie et al. 2020, Noisy Student, with RandAugment as the noise): the FastConvNet baseline
        # distilled from its own first run on all 50,000 training images, only the 10 % subset's labels used; 4 epochs
        # are the baseline's 400 steps at batch 500.
        Recipe(
            "cifar10-10pct-self-trained-fast-convnet",
            "Baseline: FastConvNet self-trained: its recipe distilled from the FastConvNet baseline's first run on the "
            "5,000 labelled images and the other 45,000 training images without their labels, 4 epochs (train the "
            "teacher first: training/train_zoo.sh cifar10-10pct-fast-convnet)",
            {
                **FAST_CONVNET,
                **SEMI_SUPERVISED_DISTILLATION,
                "num_train_epochs": SELF_TRAINING_EPOCHS,
            },
        ),
        Recipe(
            "cifar10-10pct-fast-resnet18",
            "Baseline: transformers' ResNet-18 (ImageNet stem) under the biased transformers' fast recipe (RandAugment "
            "off, whitened stem, alternating flips, TTA) on 10 % of CIFAR-10",
            {
                **BASE_ARGUMENTS["cifar10-10pct-fast"],
                "model_type": "resnet",
                "image_size": 32,
                "config_overrides": RESNET18,
                "auto_augment": None,
            },
        ),
        _ten_percent(
            "cifar10-10pct-resnet18",
            "Baseline: transformers' ResNetForImageClassification, ResNet-18 layout with its ImageNet stem, on 10 % "
            "of CIFAR-10",
            {
                "model_type": "resnet",
                "image_size": 32,
                "config_overrides": RESNET18,
            },
        ),
    ]
    names = [recipe.name for recipe in recipes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"recipes defined twice: {duplicates}")
    return {recipe.name: recipe for recipe in recipes}


def recipe_name(family: str, model_type: str) -> str:
    """The catalogue name of a variant's recipe in a family: `recipe_name("cifar10-10pct", "prs_vit")` is
    `cifar10-10pct-prs-vit`."""
    return f"{family}-{model_type.replace('_', '-')}"


RECIPES: dict[str, Recipe] = _catalogue()


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`.

    Raises:
        ValueError: no recipe has that name (the message lists them).
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


def expand_recipe_argument(argv: list[str]) -> list[str]:
    """`--recipe NAME` (or `--recipe=NAME`) in `argv` replaced by the recipe's arguments, placed first so that every
    other argument of `argv` overrides the recipe's; `--config_overrides` is added to the recipe's own (its fields
    win), so that changing one field keeps the recipe's model, and an empty `--config_overrides ""` drops them (the
    recipe on its preset alone)."""
    for position, item in enumerate(argv):
        if item == "--recipe" or item.startswith("--recipe="):
            if item == "--recipe":
                if position + 1 >= len(argv):
                    raise ValueError("--recipe needs a recipe name")
                name, rest = argv[position + 1], argv[:position] + argv[position + 2 :]
            else:
                name, rest = item.partition("=")[2], argv[:position] + argv[position + 1 :]
            recipe = get_recipe(name)
            if gives_argument(rest, "model_name_or_path"):
                recipe = recipe_for_checkpoint(recipe)
            return [*recipe.argv(), "--recipe", name, *merged_config_overrides(rest, recipe)]
    return argv


# A recipe's arguments that build a fresh model: fine-tuning a checkpoint keeps the checkpoint's architecture and
# weights, so they do not apply to it.
FRESH_MODEL_ARGUMENTS = ("preset", "config_overrides", "whitening_init")


def gives_argument(argv: list[str], name: str) -> bool:
    """Whether `argv` sets `--name` (as `--name VALUE` or `--name=VALUE`)."""
    return any(item == f"--{name}" or item.startswith(f"--{name}=") for item in argv)


def recipe_for_checkpoint(recipe: Recipe) -> Recipe:
    """The recipe without its `FRESH_MODEL_ARGUMENTS`, to fine-tune a checkpoint (`--model_name_or_path`) with its
    training; the dropped ones are logged."""
    dropped = {name: recipe.arguments[name] for name in FRESH_MODEL_ARGUMENTS if name in recipe.arguments}
    if dropped:
        logger.warning(
            f"recipe {recipe.name}: fine-tuning a checkpoint keeps its architecture, so the recipe's fresh-model "
            f"arguments are not used: {dropped}"
        )
    kept = {name: value for name, value in recipe.arguments.items() if name not in dropped}
    return Recipe(recipe.name, recipe.description, kept)


def merged_config_overrides(argv: list[str], recipe: Recipe) -> list[str]:
    """`argv` with each non-empty `--config_overrides X` (or `--config_overrides=X`) preceded by the recipe's own
    overrides; an empty one stays empty, so it replaces them."""
    own = overrides_text(recipe.arguments.get("config_overrides", {}))
    if not own:
        return argv
    merged = list(argv)
    for position, item in enumerate(merged):
        if item == "--config_overrides" and position + 1 < len(merged) and merged[position + 1]:
            merged[position + 1] = f"{own},{merged[position + 1]}"
        elif item.startswith("--config_overrides=") and item.partition("=")[2]:
            merged[position] = f"--config_overrides={own},{item.partition('=')[2]}"
    return merged
