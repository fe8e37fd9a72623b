"""PRS-ViT against its baselines with one recipe: PRS-ViT (a schedule), ConViT and IsoTransformer of equal width
and depth, trained from scratch on the same class-balanced fraction of a dataset, then one table.

    .venv/bin/python training/compare_prs.py --dataset ../shared/datasets/cifar10 --train_fraction 0.1 \
        --num_train_epochs 50 --conv_epochs 25 --schedule linear --output_dir outputs/prs-compare

Extra arguments after `--` go to every run (any `TrainingArguments` or data option, e.g. `-- --learning_rate 5e-4`).
A model whose `all_results.json` already exists in its folder is not trained again, so an interrupted comparison
resumes where it stopped. ConViT gets as many GPSA blocks as PRS-ViT has reparameterizable blocks, and the
IsoTransformer the same width, heads and depth.
"""

import argparse
import json
import sys
from pathlib import Path

from inductive_zoo import PRSViTConfig
from inductive_zoo.training.image_classification import parse_args, run

RECIPE = [
    "--per_device_train_batch_size", "128",
    "--per_device_eval_batch_size", "500",
    "--learning_rate", "1e-3",
    "--weight_decay", "0.05",
    "--lr_scheduler_type", "cosine",
    "--warmup_steps", "0.05",
    "--eval_strategy", "no",
    "--save_strategy", "epoch",
    "--save_total_limit", "1",
    "--logging_steps", "50",
    "--report_to", "none",
    "--do_train", "--do_eval",
]  # fmt: skip


def model_arguments(preset: str, schedule: str, conv_epochs: int) -> dict[str, list[str]]:
    prs = PRSViTConfig.from_preset(preset)
    shared = (
        f"hidden_size={prs.hidden_size},num_attention_heads={prs.num_attention_heads},"
        f"intermediate_size={prs.intermediate_size},num_hidden_layers={prs.num_hidden_layers}"
    )
    return {
        f"prs_vit-{schedule}": [
            "--model_type", "prs_vit", "--preset", preset, "--schedule", schedule, "--conv_epochs", str(conv_epochs)
        ],
        "convit": [
            "--model_type", "convit", "--preset", preset,
            "--config_overrides", f"{shared},local_up_to_layer={prs.num_reparameterizable_layers}",
        ],
        "iso_transformer": ["--model_type", "iso_transformer", "--preset", preset, "--config_overrides", shared],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="uoft-cs/cifar10")
    parser.add_argument("--train_fraction", type=float, default=0.1)
    parser.add_argument("--num_train_epochs", type=int, default=50)
    parser.add_argument("--conv_epochs", type=int, default=25)
    parser.add_argument("--schedule", default="linear")
    parser.add_argument("--preset", default="tiny-patch4-32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default="outputs/prs-compare")
    args = parser.parse_args(argv)

    results = {}
    for name, model_args in model_arguments(args.preset, args.schedule, args.conv_epochs).items():
        output_dir = Path(args.output_dir) / name
        done = output_dir / "all_results.json"
        if not done.exists():
            run(
                *parse_args(
                    [
                        *model_args,
                        *RECIPE,
                        "--dataset", args.dataset,
                        "--train_fraction", str(args.train_fraction),
                        "--num_train_epochs", str(args.num_train_epochs),
                        "--seed", str(args.seed),
                        "--output_dir", str(output_dir),
                        *extra,
                    ]
                )
            )  # fmt: skip
        results[name] = json.loads(done.read_text())

    print(f"\n{args.dataset}, train fraction {args.train_fraction}, {args.num_train_epochs} epochs, {args.preset}\n")
    print("| model | top-1 | top-5 |\n|---|---|---|")
    for name, metrics in results.items():
        print(f"| {name} | {metrics['eval_accuracy']:.4f} | {metrics['eval_top5_accuracy']:.4f} |")


if __name__ == "__main__":
    main()
