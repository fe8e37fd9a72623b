"""The `inductive-zoo` command: thin wrappers that parse arguments and call the package."""

import argparse
import shlex
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

DEMO_DEFAULTS = [
    "--dataset", "digits",
    "--model_type", "iso_transformer",
    "--preset", "micro-patch4-32",
    "--output_dir", "outputs/demo",
    "--do_train", "--do_eval",
    "--num_train_epochs", "30",
    "--per_device_train_batch_size", "64",
    "--per_device_eval_batch_size", "256",
    "--learning_rate", "2e-3",
    "--weight_decay", "0.05",
    "--warmup_steps", "50",
    "--lr_scheduler_type", "cosine",
    "--eval_strategy", "no",
    "--save_strategy", "no",
    "--logging_steps", "50",
    "--report_to", "none",
    "--hflip_prob", "0.0",
    "--seed", "0",
]  # fmt: skip

# Hub commands: command -> module of `inductive_zoo.publishing` whose `main(argv)` runs it.
PUBLISHING_COMMANDS = {"publish": "publish", "convert": "convert", "release": "release", "demo-page": "demo_page"}


def demo(argv: list[str]) -> dict[str, float]:
    """Trains a small IsoTransformer (default: the embedded digits), saves it, reloads it with the Auto classes and
    classifies a few evaluation images through `pipeline("image-classification")`. Extra arguments override the
    defaults, e.g. `--dataset ../shared/datasets/cifar10 --train_fraction 0.1`."""
    from datasets import Image
    from transformers import AutoModelForImageClassification, pipeline

    trainer, metrics = train(DEMO_DEFAULTS + argv)
    output_dir = Path(trainer.args.output_dir)

    reloaded = AutoModelForImageClassification.from_pretrained(output_dir)
    classifier = pipeline("image-classification", model=str(output_dir), device="cpu")
    eval_dataset = trainer.eval_dataset
    image_column, label_column = eval_dataset.image_column, eval_dataset.label_column
    rows = eval_dataset.dataset.select(range(8)).cast_column(image_column, Image())
    names = reloaded.config.id2label
    print(f"\nreloaded {type(reloaded).__name__} from {output_dir}")
    print(f"pipeline predictions on 8 images of the {eval_dataset.split} split:")
    predictions = classifier([row[image_column] for row in rows], top_k=1)
    for row, prediction in zip(rows, predictions, strict=True):
        best = prediction[0]
        print(f"  true {names[row[label_column]]:>12}  predicted {best['label']:>12}  (score {best['score']:.2f})")
    print(f"\neval accuracy: {metrics['eval_accuracy']:.4f} (top-5 {metrics['eval_top5_accuracy']:.4f})")
    return metrics


def train(argv: list[str]) -> tuple[Any, dict[str, float]]:
    """`inductive-zoo train`: the supervised recipe (`training.image_classification`); the saved model gets its
    remote code (`publishing.add_remote_code`), so that the output folder loads with `trust_remote_code=True`
    without the package and can be pushed as it is."""
    from .publishing.remote_code import add_remote_code
    from .training.image_classification import parse_args, run

    trainer, metrics = run(*parse_args(argv))
    output_dir = Path(trainer.args.output_dir)
    if trainer.args.do_train and trainer.is_world_process_zero() and add_remote_code(output_dir):
        print(f"{output_dir}: saved with its remote code (loads with trust_remote_code=True without inductive_zoo)")
    return trainer, metrics


def list_recipes(argv: list[str]) -> None:
    """Prints the recipe catalogue: name, epochs and description; `--name NAME` prints one recipe's arguments."""
    from .training.recipes import RECIPES, get_recipe

    parser = argparse.ArgumentParser(prog="inductive-zoo recipes", description=list_recipes.__doc__)
    parser.add_argument("--name", default=None, help="print the arguments of this recipe")
    args = parser.parse_args(argv)
    if args.name is not None:
        recipe = get_recipe(args.name)
        print(f"{recipe.name}: {recipe.description}\n{recipe.command()}\n")
        print(f"  {shlex.join(recipe.argv())}")
        return
    for recipe in RECIPES.values():
        print(f"{recipe.name:34s} {recipe.epochs:4d} epochs  {recipe.description}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="inductive-zoo", description=__doc__)
    parser.add_argument(
        "command",
        choices=["demo", "train", "recipes", "pretrain", "study", "publish", "convert", "release", "demo-page"],
        help="demo: train/save/reload/pipeline; train, pretrain: recipes; recipes: list the catalogue; study: the "
        "papers' studies; publish, convert, release: the Hub; demo-page: a checkpoint's Gradio page on localhost "
        "(the demo extra)",
    )
    command, rest = parser.parse_known_args(argv[:1])[0].command, argv[1:]
    if command == "demo":
        demo(rest)
    elif command == "recipes":
        list_recipes(rest)
    elif command == "study":
        from .studies import main as study_main

        study_main(rest)
    elif command in PUBLISHING_COMMANDS:
        import_module(f".publishing.{PUBLISHING_COMMANDS[command]}", __package__).main(rest)
    elif command == "pretrain":
        from .training.pretraining import main as pretrain_main

        pretrain_main(rest)
    else:
        train(rest)


if __name__ == "__main__":
    main()
