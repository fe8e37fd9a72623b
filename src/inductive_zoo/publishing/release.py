"""Releasing the zoo: `inductive-zoo release --organization ORG --dataset PATH_OR_ID --output_dir DIR [--budget ...]`.

For every variant of `inductive_zoo.MANIFESTS`: train it with its recipe from the catalogue
(`inductive_zoo.training.recipes`: `cifar10-full-*` or `cifar10-10pct-*`), evaluate it, render its card and publish
it to `ORG/{variant}-cifar10` (`-cifar10-10pct`). A model that is exactly a ViT (the full-data and smoke
IsoTransformers: ViT's settings, no stochastic depth) is published as a transformers-native
`ViTForImageClassification`; the others, the 10 % IsoTransformer with its convolutional stem included, with their
modeling code for `trust_remote_code=True`.
Progress is kept in `DIR/release.json`: a rerun skips published variants, publishes trained ones and resumes training
from the last checkpoint saved.

`--budget full` is the full-data recipe (GPU machine, one go), `--budget 10pct` the zoo's 10 % recipes (about half an
hour per variant on 2 CPU cores). `--budget small` runs the 10 % path in minutes on a CPU (micro presets, a few
optimisation steps, a small evaluation subset) and publishes under `-cifar10-smoke` names.
"""

import argparse
import json
from pathlib import Path

from transformers import AutoConfig

from ..models.registry import manifest_for
from ..training.recipes import get_recipe, recipe_name
from ..training.records import MissingEvaluationError, read_evaluation_metrics
from .cards import hub_id
from .demo_page import stage_space
from .native import is_transformers_native
from .publish import publish

RELEASE_STATE = "release.json"
# Budgets: the recipe family each variant is trained with (`inductive_zoo.training.recipes`), and a smoke test.
RECIPE_FAMILIES = {"full": "cifar10-full", "10pct": "cifar10-10pct", "small": "cifar10-10pct"}
BUDGETS = tuple(RECIPE_FAMILIES)
# Small budget: the 10 % recipe's path at CPU scale in minutes; these come after the recipe, so they win.
SMALL_BUDGET_ARGS = [
    "--max_steps", "3", "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "64",
    "--max_eval_samples", "64", "--train_fraction", "0.05", "--eval_strategy", "no", "--save_strategy", "no",
    "--logging_steps", "1", "--report_to", "none", "--dataloader_num_workers", "0", "--model_ema_decay", "0.9",
]  # fmt: skip


def recipe_argv(model_type: str, budget: str, dataset: str, output_dir: Path) -> list[str]:
    """The command line of `inductive-zoo train` that trains one variant at one budget: its catalogue recipe (see
    `RECIPE_FAMILIES`) with the dataset, output directory and seed 0.

    Raises:
        ValueError: unknown budget, or no recipe for the variant.
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    recipe = get_recipe(recipe_name(RECIPE_FAMILIES[budget], model_type))
    common = ["--recipe", recipe.name, "--dataset", dataset, "--output_dir", str(output_dir), "--seed", "0"]
    if budget != "small":
        return common
    # The variant's smallest preset; the 10 % recipe's width overrides are dropped.
    preset = manifest_for(model_type).smoke_preset
    return [*common, "--preset", preset, "--config_overrides", "", *SMALL_BUDGET_ARGS]


def repo_name(organization: str, model_type: str, budget: str) -> str:
    suffix = {"full": "cifar10", "10pct": "cifar10-10pct", "small": "cifar10-smoke"}[budget]
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
    """Trains, evaluates and publishes every variant (or `variants`), resuming from `output_dir/release.json`, and
    stages each custom-code variant's demo page as a Space in `output_dir/spaces/NAME` (`demo_page.stage_space`);
    returns that record: per variant, its repository, published commit and staged Space."""
    from ..models.registry import MANIFESTS

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    state_path = output_dir / RELEASE_STATE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    for manifest in MANIFESTS:
        model_type = manifest.model_type
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
        native = is_transformers_native(AutoConfig.from_pretrained(variant_dir))
        result = publish(
            variant_dir,
            repo_id,
            token=token,
            endpoint=endpoint,
            remote_code=not native,
            as_transformers_native=native,
            dataset_id=dataset_id or hub_id(dataset),
        )
        state[model_type] = {"repo_id": repo_id, "commit": result.commit}
        if not native:
            # The Hub's widget cannot run it: its demo page, staged as a Space to push beside the model.
            space_dir = output_dir / "spaces" / repo_id.split("/")[-1]
            stage_space(variant_dir, space_dir, repo_id)
            state[model_type]["space_dir"] = str(space_dir)
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
    parser.add_argument(
        "--budget", choices=BUDGETS, default="full", help="full-data recipes, the 10 %% recipes, or a smoke run"
    )
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
