"""The supervised recipe end to end: real CIFAR-10 data through Trainer, the demo command, the metric module."""

import math

import numpy as np
import pytest
import torch

from inductive_zoo.cli import main as cli_main
from inductive_zoo.metrics import load_accuracy_metric
from inductive_zoo.training.image_classification import build_trainer, parse_args, parse_overrides, run

FAST_TRAINING = [
    "--per_device_train_batch_size", "64",
    "--per_device_eval_batch_size", "250",
    "--learning_rate", "2e-3",
    "--warmup_steps", "10",
    "--lr_scheduler_type", "cosine",
    "--eval_strategy", "no",
    "--save_strategy", "no",
    "--logging_steps", "5",
    "--report_to", "none",
    "--seed", "0",
    "--dataloader_pin_memory", "false",
]  # fmt: skip


def test_loss_falls_and_accuracy_beats_chance_on_a_real_cifar10_subset(cifar10_path, tmp_path):
    args = parse_args(
        [
            "--dataset", str(cifar10_path),
            "--model_type", "iso_transformer",
            "--preset", "micro-patch4-32",
            "--train_fraction", "0.04",
            "--max_eval_samples", "1000",
            "--num_train_epochs", "4",
            "--output_dir", str(tmp_path),
            "--do_train", "--do_eval",
            *FAST_TRAINING,
        ]
    )  # fmt: skip
    trainer, metrics = run(*args)
    assert len(trainer.train_dataset) == 2000
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 0.15, losses
    assert metrics["eval_accuracy"] > 0.2, metrics  # chance is 0.1
    assert metrics["eval_top5_accuracy"] > metrics["eval_accuracy"]
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "preprocessor_config.json").exists()


def test_demo_command_trains_saves_reloads_and_runs_the_pipeline(tmp_path, capsys):
    cli_main(["demo", "--num_train_epochs", "1", "--output_dir", str(tmp_path), "--dataloader_pin_memory", "false"])
    printed = capsys.readouterr().out
    assert "reloaded IsoTransformerForImageClassification" in printed
    assert printed.count("predicted") == 8
    assert "eval accuracy:" in printed
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        assert (tmp_path / name).exists(), name


@pytest.mark.parametrize("model_type", ["iso_mixer", "iso_convnet"])
def test_recipe_builds_every_variant_with_overrides(model_type, tmp_path):
    args = parse_args(
        [
            "--model_type", model_type,
            "--config_overrides", "num_hidden_layers=2,hidden_size=32,intermediate_size=64",
            "--output_dir", str(tmp_path),
            "--max_eval_samples", "50",
            "--report_to", "none",
        ]
    )  # fmt: skip
    trainer = build_trainer(*args)
    assert trainer.model.config.model_type == model_type
    assert trainer.model.config.num_hidden_layers == 2
    assert trainer.model.config.id2label[3] == "3"
    metrics = trainer.evaluate()
    # Untrained (small initial logits): chance-level loss over the 10 classes, accuracy a count out of 50 images.
    assert abs(metrics["eval_loss"] - math.log(10)) < 0.3, metrics
    assert metrics["eval_accuracy"] * 50 == pytest.approx(round(metrics["eval_accuracy"] * 50)), metrics


def test_recipe_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown model_type 'resnet50'"):
        build_trainer(*parse_args(["--model_type", "resnet50", "--output_dir", str(tmp_path)]))
    with pytest.raises(ValueError, match="resnet configs have no image_size; pass --image_size"):
        build_trainer(*parse_args(["--model_type", "resnet", "--output_dir", str(tmp_path)]))
    with pytest.raises(ValueError, match="not of the form field=value"):
        parse_overrides("hidden_size")
    assert parse_overrides("a=1, b=mean,c=true") == {"a": 1, "b": "mean", "c": True}


def test_accuracy_metric_top1_and_top5():
    metric = load_accuracy_metric()
    logits = np.zeros((4, 10), dtype=np.float32)
    logits[0, 1] = logits[1, 2] = 1.0  # rows 0, 1: right at top-1
    logits[2, [0, 1, 2, 3, 4, 5]] = [6, 5, 4, 3, 2, 1]  # row 2: label 4 is 5th -> top-5 only
    logits[3, [0, 1, 2, 3, 4, 5]] = [6, 5, 4, 3, 2, 1]  # row 3: label 5 is 6th -> neither
    result = metric.compute(predictions=logits, references=[1, 2, 4, 5])
    assert result == {"accuracy": 0.5, "top5_accuracy": 0.75}


@pytest.mark.slow
def test_full_demo_reaches_high_accuracy_on_digits(tmp_path, capsys):
    cli_main(["demo", "--output_dir", str(tmp_path)])
    accuracy = float(capsys.readouterr().out.split("eval accuracy: ")[1].split()[0])
    assert accuracy > 0.9


def test_gradient_accumulation_matches_one_large_batch(tmp_path):
    def final_weights(batch_size: int, accumulation: int):
        args = parse_args(
            [
                "--config_overrides", "num_hidden_layers=2,hidden_size=48,intermediate_size=64",
                "--no_augmentation",
                "--output_dir", str(tmp_path / f"{batch_size}x{accumulation}"),
                "--per_device_train_batch_size", str(batch_size),
                "--gradient_accumulation_steps", str(accumulation),
                "--max_steps", "3",
                "--learning_rate", "0.1",
                "--optim", "sgd",  # Adam would hide a wrongly scaled gradient
                "--max_grad_norm", "0",
                "--precision", "fp32",  # bf16 rounding would differ between the two batchings
                "--save_strategy", "no",
                "--report_to", "none",
                "--dataloader_pin_memory", "false",
            ]
        )  # fmt: skip
        trainer = build_trainer(*args)
        trainer.train()
        return {name: p.detach().clone() for name, p in trainer.model.named_parameters()}

    large, accumulated = final_weights(16, 1), final_weights(8, 2)
    for name in large:
        torch.testing.assert_close(large[name], accumulated[name], atol=2e-5, rtol=1e-4, msg=name)
