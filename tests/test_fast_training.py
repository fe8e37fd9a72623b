"""The fast-training options of the recipes, each on its own (whitening initialisation, test-time augmentation,
alternating flips, decoded images kept in memory, channels-last, the FastConvNet baseline) and all together through
an exact resume."""

import json
from pathlib import Path

import pytest
import torch
from conftest import CONFIG_CLASSES, tiny_config
from safetensors.torch import load_file
from torch import nn
from transformers import AutoConfig, AutoModelForImageClassification

from inductive_zoo.data import AugmentationConfig, BatchAugmentation, DecodedImageDataset, digits_dataset
from inductive_zoo.evaluation.test_time_augmentation import (
    tta_evaluation,
    tta_logits,
)
from inductive_zoo.models.fast_convnet import FastConvNetConfig, FastConvNetForImageClassification
from inductive_zoo.models.registry import manifest_for
from inductive_zoo.training.image_classification import build_trainer, parse_args, run
from inductive_zoo.training.whitening import (
    convolution_patches,
    first_image_convolution,
    whiten_first_convolution,
)


def correlated_images(count: int = 64, size: int = 16) -> torch.Tensor:
    """Images whose neighbouring pixels and channels are strongly correlated, as natural images are."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(count, 3, size, size, generator=generator)
    smooth = nn.functional.avg_pool2d(noise, 3, stride=1, padding=1) * 3
    return smooth + 0.3 * smooth.mean(dim=1, keepdim=True) + 0.05 * noise


def output_covariance(convolution: nn.Conv2d, images: torch.Tensor, channels: int) -> torch.Tensor:
    patches = convolution_patches(convolution, images).double()
    weight = convolution.weight.detach().flatten(1)[:channels].double()
    outputs = (patches - patches.mean(dim=0)) @ weight.T
    return outputs.T @ outputs / (len(outputs) - 1)


# --- whitening -------------------------------------------------------------------------------------------------


def test_whitening_whitens_the_fitting_patches_and_adds_the_negations():
    images = correlated_images()
    convolution = nn.Conv2d(3, 30, kernel_size=2)
    untouched = convolution.weight.detach()[24:].clone()
    whiten_first_convolution(nn.Sequential(convolution), images, eps=1e-8)
    dimensions = 12
    covariance = output_covariance(convolution, images, dimensions)
    torch.testing.assert_close(covariance, torch.eye(dimensions, dtype=torch.float64), atol=1e-3, rtol=0)
    weight = convolution.weight.detach()
    torch.testing.assert_close(weight[dimensions : 2 * dimensions], -weight[:dimensions])
    torch.testing.assert_close(weight[24:], untouched)  # beyond the negations, the random filters stay
    # The bias centres the whitened outputs on the patches' mean.
    outputs = convolution(images)[:, :dimensions]
    assert outputs.mean(dim=(0, 2, 3)).abs().max() < 1e-4


def test_whitening_with_fewer_filters_keeps_the_directions_of_largest_variance():
    images = correlated_images()
    convolution = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1, bias=False)
    whiten_first_convolution(nn.Sequential(convolution), images, eps=1e-8)
    covariance = output_covariance(convolution, images, 8)
    torch.testing.assert_close(covariance, torch.eye(8, dtype=torch.float64), atol=1e-3, rtol=0)
    patches = convolution_patches(convolution, images).double()
    variances = torch.linalg.eigvalsh(torch.cov(patches.T)).flip(0)
    projected = patches @ convolution.weight.detach().flatten(1).double().T
    # Filter i is direction i scaled by 1 / sqrt(lambda_i): the raw variance along it is lambda_i.
    recovered = projected.var(dim=0) * variances[:8]
    torch.testing.assert_close(recovered, variances[:8], rtol=1e-2, atol=0)


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_every_variant_has_a_first_convolution_to_whiten(config_class):
    model = AutoModelForImageClassification.from_config(tiny_config(config_class))
    images = torch.randn(8, 3, 16, 16)
    convolution = whiten_first_convolution(model, images)
    assert convolution is first_image_convolution(model, 3)
    assert torch.isfinite(model(pixel_values=images).logits).all()


def test_whitening_refuses_a_model_without_an_image_convolution():
    with pytest.raises(ValueError, match="has no convolution over 3 image channels to whiten"):
        whiten_first_convolution(nn.Sequential(nn.Linear(3, 3)), torch.randn(2, 3, 8, 8))


# --- test-time augmentation ------------------------------------------------------------------------------------


def test_tta_of_a_flip_invariant_input_equals_plain_evaluation():
    torch.manual_seed(0)
    model = FastConvNetForImageClassification(FastConvNetConfig(num_labels=4, block_widths=[8, 8, 8])).eval()
    images = torch.randn(4, 3, 32, 32)
    mirror_symmetric = (images + images.flip(-1)) / 2
    plain = model(pixel_values=mirror_symmetric).logits
    with tta_evaluation(model, 1):
        flipped = model(pixel_values=mirror_symmetric).logits
    torch.testing.assert_close(flipped, plain, atol=1e-5, rtol=1e-5)
    constant = torch.full((2, 3, 32, 32), 0.3)  # unchanged by mirroring and by reflected one-pixel shifts
    with tta_evaluation(model, 2):
        shifted = model(pixel_values=constant, labels=torch.tensor([0, 1]))
    torch.testing.assert_close(shifted.logits, model(pixel_values=constant).logits, atol=1e-5, rtol=1e-5)
    assert shifted.loss is not None
    assert "forward" not in vars(model)  # the model's own forward is back
    # An input that is not mirror-symmetric gets other logits.
    with tta_evaluation(model, 1):
        averaged = model(pixel_values=images).logits
    assert not torch.allclose(averaged, model(pixel_values=images).logits, atol=1e-3)


def test_tta_level_2_averages_mirrored_and_shifted_views():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    seen = []

    def logits_fn(batch: torch.Tensor) -> torch.Tensor:
        seen.append(batch)
        return batch.flatten(1)[:, :5]

    logits = tta_logits(logits_fn, images, 2)
    assert len(seen) == 3 and all(len(batch) == 4 for batch in seen)  # three mirrored pairs
    torch.testing.assert_close(seen[1][0, :, :-1, :-1], images[0, :, 1:, 1:])  # moved up-left
    torch.testing.assert_close(seen[2][0, :, 1:, 1:], images[0, :, :-1, :-1])  # moved down-right
    assert logits.shape == (2, 5)


@pytest.mark.parametrize("level", [3, -1, True, "1"])
def test_a_tta_level_out_of_range_is_refused_by_name(level):
    with pytest.raises(ValueError, match=r"tta_level must be one of \(0, 1, 2\)"):
        tta_logits(lambda batch: batch, torch.zeros(1, 3, 4, 4), level)


def test_the_command_line_refuses_bad_fast_training_options(tmp_path):
    with pytest.raises(ValueError, match=r"tta_level must be one of \(0, 1, 2\), got 5"):
        parse_args(["--output_dir", str(tmp_path), "--tta_level", "5"])
    with pytest.raises(ValueError, match="precision must be one of"):
        parse_args(["--output_dir", str(tmp_path), "--precision", "half"])
    with pytest.raises(ValueError, match="whitening_init sets a fresh model's first convolution"):
        parse_args(["--output_dir", str(tmp_path), "--whitening_init", "--model_name_or_path", "x"])


# --- alternating flips and decoded images ----------------------------------------------------------------------


def test_alternating_flips_mirror_each_image_in_every_other_epoch():
    augmentation = BatchAugmentation(
        AugmentationConfig(crop_padding=0, jitter_prob=0.0, alternating_flip=True, per_image_draws=False)
    )
    images = torch.rand(6, 3, 8, 8)
    indices = [5, 0, 3, 2, 9, 4]
    flipped_by_epoch = []
    for epoch in range(3):
        out = augmentation(images, sample_indices=indices, epoch=epoch)
        flipped = [not torch.allclose(o, i, atol=1e-5) for o, i in zip(out, images, strict=True)]
        for o, i, was_flipped in zip(out, images, flipped, strict=True):
            torch.testing.assert_close(o, i.flip(-1) if was_flipped else i, atol=1e-5, rtol=1e-5)
        flipped_by_epoch.append(flipped)
    assert flipped_by_epoch[0] == [not flip for flip in flipped_by_epoch[1]] == flipped_by_epoch[2]
    assert sum(flipped_by_epoch[0]) == 3
    with pytest.raises(ValueError, match="alternating_flip needs each image's dataset index and the epoch"):
        augmentation(images)


def test_decoded_images_are_kept_after_their_first_fetch(monkeypatch):
    split = digits_dataset()["train"].select(range(20))
    plain = DecodedImageDataset(split, "train", "img", "label", 32)
    kept = DecodedImageDataset(split, "train", "img", "label", 32, keep_decoded=True)
    calls = []
    decode = kept.decode
    monkeypatch.setattr(kept, "decode", lambda value, index: calls.append(index) or decode(value, index))
    for indices in ([3, 1, 7], [7, 3, 12], [12, 1]):
        for a, b in zip(plain.fetch(indices), kept.fetch(indices), strict=True):
            torch.testing.assert_close(a["image"], b["image"])
            assert a["label"] == b["label"]
    assert sorted(calls) == [1, 3, 7, 12]  # each image decoded once


# --- the baseline ----------------------------------------------------------------------------------------------


def test_fast_convnet_round_trips_through_the_auto_classes(tmp_path):
    config = AutoConfig.for_model("fast_convnet", num_labels=3, block_widths=[8, 16, 16])
    model = AutoModelForImageClassification.from_config(config).eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is FastConvNetForImageClassification
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded(pixel_values=images).logits, model(pixel_values=images).logits)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("block_widths", [], "block_widths must be a non-empty list"), ("batch_norm_momentum", 0.0, "momentum")],
)
def test_fast_convnet_refuses_bad_configs_by_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        FastConvNetConfig(**{field: value})


# --- every option at once, through an exact resume -------------------------------------------------------------

ALL_OPTIONS_RUN = [
    "--model_type", "fast_convnet", "--config_overrides", "block_widths=[16,32,32]",
    "--train_fraction", "0.1", "--max_eval_samples", "40", "--num_train_epochs", "2",
    "--per_device_train_batch_size", "16", "--optim", "sgd", "--optim_args", "momentum=0.9,nesterov=true",
    "--learning_rate", "0.05", "--weight_decay", "5e-4", "--lr_scheduler_type", "linear", "--warmup_steps", "2",
    "--label_smoothing_factor", "0.2", "--model_ema_decay", "0.9", "--crop_padding", "2", "--colour_jitter", "0",
    "--whitening_init", "--channels_last", "--keep_decoded", "--alternating_flip", "--tta_level", "2",
    "--save_strategy", "steps", "--save_steps", "4", "--logging_steps", "1", "--report_to", "none", "--seed", "0",
    "--dataloader_pin_memory", "false", "--do_train", "--do_eval",
]  # fmt: skip


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_every_fast_training_option_resumes_exactly(tmp_path, precision):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    run(*parse_args([*ALL_OPTIONS_RUN, "--precision", precision, "--output_dir", str(reference)]))
    checkpoint = reference / "checkpoint-12"  # in the middle of the second epoch
    assert checkpoint.is_dir()
    arguments = [*ALL_OPTIONS_RUN, "--precision", precision, "--output_dir", str(resumed)]
    run(*parse_args([*arguments, "--resume_from_checkpoint", str(checkpoint)]))
    weights, again = load_file(reference / "model.safetensors"), load_file(resumed / "model.safetensors")
    for name, tensor in weights.items():
        torch.testing.assert_close(again[name], tensor, atol=0, rtol=0, msg=name)
    metrics = json.loads((reference / "all_results.json").read_text())
    assert json.loads((resumed / "all_results.json").read_text())["eval_tta_loss"] == metrics["eval_tta_loss"]
    assert {"eval_accuracy", "eval_tta_accuracy"} <= set(metrics)
    summary = json.loads(Path(reference, "training_summary.json").read_text())
    assert summary["fast_training"] == {
        "whitening_init": True, "channels_last": True, "keep_decoded": True, "tta_level": 2,
    }  # fmt: skip
    assert summary["augmentation"]["alternating_flip"] is True
    assert summary["precision"].startswith(f"{precision} ({precision}: set by the user")
    # The saved model loads as a plain (contiguous) checkpoint.
    loaded = AutoModelForImageClassification.from_pretrained(reference)
    assert all(parameter.is_contiguous() for parameter in loaded.parameters())


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_the_fast_options_build_a_trainer_for_every_variant(tmp_path, config_class):
    """Whitening, channels-last (CADA-ResNet has 5-D parameters, which a whole-model channels-last cast refuses)."""
    manifest = manifest_for(config_class)
    overrides = ",".join(
        f"{key}={json.dumps(value)}" for key, value in manifest.test_config.items() if key != "num_labels"
    )
    argv = [
        "--model_type", config_class.model_type, "--preset", manifest.smoke_preset, "--config_overrides", overrides,
        "--max_steps", "1",
        "--per_device_train_batch_size", "8", "--train_fraction", "0.05", "--whitening_init", "--channels_last",
        "--output_dir", str(tmp_path), "--report_to", "none", "--do_train",
    ]  # fmt: skip
    trainer = build_trainer(*parse_args(argv))
    convolutions = [module for module in trainer.model.modules() if isinstance(module, torch.nn.Conv2d)]
    assert all(conv.weight.is_contiguous(memory_format=torch.channels_last) for conv in convolutions)
    trainer.train()


def test_the_card_reports_top1_with_and_without_tta_and_says_what_pipeline_gives(tmp_path):
    from inductive_zoo.cli import main as cli_main

    run_dir, staged = tmp_path / "run", tmp_path / "staged"
    arguments = [
        "--config_overrides", "num_hidden_layers=1,hidden_size=48,intermediate_size=32", "--train_fraction", "0.1",
        "--max_eval_samples", "30", "--max_steps", "2", "--per_device_train_batch_size", "16", "--tta_level", "1",
        "--precision", "fp32", "--save_strategy", "no", "--report_to", "none", "--do_train", "--do_eval",
        "--output_dir", str(run_dir),
    ]  # fmt: skip
    run(*parse_args(arguments))
    cli_main(["publish", str(run_dir), "--staging-dir", str(staged), "--repo-id", "org/iso-transformer-digits"])
    card = (staged / "README.md").read_text()
    assert "| Top-1 accuracy with test-time augmentation |" in card
    assert "| Top-1 accuracy |" in card
    assert '`pipeline("image-classification")` give the plain predictions' in card
    assert "in fp32 (fp32: set by the user)" in card
    assert "| `tta_level` | `1` |" in card
