"""Releasing the zoo: `inductive-zoo release --organization ORG --dataset PATH_OR_ID --output_dir DIR [--budget ...]`.

For every variant of `inductive_zoo.VARIANTS`: train its CIFAR-10 preset with its recipe (`RECIPES`, the arguments of
`training/recipes/cifar10_*.sh`), evaluate it, render its card and publish it to `ORG/{variant}-cifar10`. The
IsoTransformer preset has ViT's settings, so it is published as a transformers-native `ViTForImageClassification`;
the others with their modeling code for `trust_remote_code=True`. Progress is kept in `DIR/release.json`: a rerun
skips published variants, publishes trained ones and resumes training from the last checkpoint saved.

`--budget full` is the real recipe (GPU machine, one go). `--budget small` runs the same path in minutes on a CPU
(micro presets, a few optimisation steps, a small evaluation subset) and publishes under `-cifar10-smoke` names.
"""

import argparse
import json
from pathlib import Path

from .cards import dataset_hub_id
from .publish import publish
from .records import MissingEvaluationError, read_evaluation_metrics

RELEASE_STATE = "release.json"
# DeiT-style recipe of the transformer-like variants (AdamW + cosine, no distillation or mixup).
ADAMW_RECIPE = [
    "--num_train_epochs", "100", "--per_device_train_batch_size", "128", "--per_device_eval_batch_size", "500",
    "--optim", "adamw_torch", "--learning_rate", "1e-3", "--weight_decay", "0.05", "--lr_scheduler_type", "cosine",
    "--warmup_steps", "0.05",
]  # fmt: skip
# The standard ResNet recipe (SGD + Nesterov momentum, cosine), 200 epochs.
SGD_RECIPE = [
    "--num_train_epochs", "200", "--per_device_train_batch_size", "128", "--per_device_eval_batch_size", "500",
    "--optim", "sgd", "--optim_args", "momentum=0.9,nesterov=true", "--learning_rate", "0.1", "--weight_decay", "5e-4",
    "--lr_scheduler_type", "cosine", "--warmup_steps", "0.02",
]  # fmt: skip
# The CIFAR-10 recipe of every variant: (full-budget model arguments, small-budget preset, optimisation arguments).
# IsoMixer and IsoConvNet have no shell recipe; they use the transformers' AdamW recipe (our choice).
RECIPES = {
    "iso_transformer": (["--preset", "tiny-patch4-32"], "micro-patch4-32", ADAMW_RECIPE),
    "iso_mixer": (["--preset", "tiny-patch4-32"], "micro-patch4-32", ADAMW_RECIPE),
    "iso_convnet": (["--preset", "tiny-patch4-32"], "micro-patch4-32", ADAMW_RECIPE),
    "convit": (["--preset", "tiny-patch4-32"], "micro-patch4-32", ADAMW_RECIPE),
    "prs_vit": (
        ["--preset", "tiny-patch4-32", "--schedule", "linear", "--conv_epochs", "50"],
        "micro-patch4-32",
        ADAMW_RECIPE,
    ),
    "ibit": (["--preset", "tiny-patch4-32"], "micro-patch4-32", ADAMW_RECIPE),
    "cada_resnet": (["--preset", "resnet26-32"], "micro-32", SGD_RECIPE),
}
FULL_BUDGET_ARGS = [
    "--do_train", "--do_eval", "--eval_strategy", "epoch", "--save_strategy", "epoch", "--save_total_limit", "2",
    "--logging_steps", "50", "--report_to", "none",
]  # fmt: skip
# Small budget: the same path at CPU scale; the preset is swapped and these come after the recipe, so they win.
SMALL_BUDGET_ARGS = [
    "--do_train", "--do_eval", "--max_steps", "3", "--per_device_train_batch_size", "16",
    "--per_device_eval_batch_size", "64", "--max_eval_samples", "64", "--train_fraction", "0.05",
    "--eval_strategy", "no", "--save_strategy", "no", "--logging_steps", "1", "--report_to", "none",
    "--dataloader_num_workers", "0",
]  # fmt: skip
BUDGETS = ("small", "full")


def recipe_argv(model_type: str, budget: str, dataset: str, output_dir: Path) -> list[str]:
    """The recipe's command line (`inductive-zoo train ...`) for one variant at one budget.

    Raises:
        ValueError: unknown variant or budget.
    """
    if model_type not in RECIPES:
        raise ValueError(f"no CIFAR-10 recipe for {model_type!r}; known: {sorted(RECIPES)}")
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    model_args, small_preset, optimisation = RECIPES[model_type]
    if budget == "small":
        preset_index = model_args.index("--preset") + 1
        model_args = [*model_args[:preset_index], small_preset, *model_args[preset_index + 1 :]]
    budget_args = SMALL_BUDGET_ARGS if budget == "small" else FULL_BUDGET_ARGS
    common = ["--dataset", dataset, "--model_type", model_type, "--output_dir", str(output_dir), "--seed", "0"]
    return [*common, *model_args, *optimisation, *budget_args]


def repo_name(organization: str, model_type: str, budget: str) -> str:
    suffix = "cifar10" if budget == "full" else "cifar10-smoke"
    return f"{organization}/{model_type.replace('_', '-')}-{suffix}"


def _train(model_type: str, budget: str, dataset: str, variant_dir: Path) -> None:
    from ..training.image_classification import parse_args, run

    # `auto`: the recipe resumes from the last complete checkpoint of `variant_dir`, or starts fresh.
    run(*parse_args([*recipe_argv(model_type, budget, dataset, variant_dir), "--resume_from_checkpoint", "auto"]))


def release(
    organization: str,
    dataset: str,
    output_dir: str | Path,
    *,
    budget: str = "full",
    dataset_id: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    variants: list[str] | None = None,
) -> dict[str, dict[str, str]]:
    """Trains, evaluates and publishes every variant (or `variants`), resuming from `output_dir/release.json`;
    returns that record: per variant, its repository and published commit."""
    from .. import VARIANTS

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    state_path = output_dir / RELEASE_STATE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    for config_class, _, _ in VARIANTS:
        model_type = config_class.model_type
        if variants is not None and model_type not in variants:
            continue
        repo_id = repo_name(organization, model_type, budget)
        if state.get(model_type, {}).get("repo_id") == repo_id:
            print(f"{model_type}: already published to {repo_id}, skipped")
            continue
        variant_dir = output_dir / model_type
        try:
            read_evaluation_metrics(variant_dir)
            print(f"{model_type}: already trained and evaluated in {variant_dir}")
        except MissingEvaluationError:
            _train(model_type, budget, dataset, variant_dir)
        result = publish(
            variant_dir,
            repo_id,
            token=token,
            endpoint=endpoint,
            remote_code=model_type != "iso_transformer",
            as_transformers_native=model_type == "iso_transformer",
            dataset_id=dataset_id or dataset_hub_id(dataset),
        )
        state[model_type] = {"repo_id": repo_id, "commit": result.commit}
        state_path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        print(f"{model_type}: published to {repo_id} at {result.commit}")
    return state


def main(argv: list[str] | None = None) -> dict[str, dict[str, str]]:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="inductive-zoo release", description=__doc__.splitlines()[0])
    parser.add_argument("--organization", required=True, help="Hub organisation (or user) to publish under")
    parser.add_argument("--dataset", default="uoft-cs/cifar10", help="CIFAR-10: Hub id or local copy")
    parser.add_argument("--dataset-id", "--dataset_id", default=None, help="Hub id of the data for the cards")
    parser.add_argument("--output_dir", "--output-dir", required=True, type=Path, help="checkpoints and progress")
    parser.add_argument("--budget", choices=BUDGETS, default="full", help="full recipe, or a CPU-sized smoke run")
    parser.add_argument("--variants", nargs="+", default=None, help="only these model types")
    parser.add_argument("--token", default=None, help="write token (default: HF_TOKEN or the saved login)")
    args = parser.parse_args(argv)
    return release(
        args.organization,
        args.dataset,
        args.output_dir,
        budget=args.budget,
        dataset_id=args.dataset_id,
        token=args.token,
        variants=args.variants,
    )
