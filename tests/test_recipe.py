"""The small-data recipe: augmentation options, mixup/CutMix targets, the soft-target loss, the validation split,
the recipe catalogue, and a run with every option on that resumes exactly and stays single-label."""

import dataclasses
import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline

from inductive_zoo.data import (
    AugmentationConfig,
    BatchAugmentation,
    MixupCutmixCollator,
    MixupCutmixConfig,
    class_balanced_indices,
    held_out_subset,
    smoothed_targets,
)
from inductive_zoo.data.datasets import digits_dataset
from inductive_zoo.models.classification import soft_target_cross_entropy
from inductive_zoo.models.prs_vit import PRSViTConfig
from inductive_zoo.training.image_classification import CONFIG_CLASSES, build_model, parse_args, parse_overrides, run
from inductive_zoo.training.recipes import RECIPES, expand_recipe_argument, get_recipe

ALL_OPTIONS = [
    "--crop_padding", "4", "--auto_augment", "randaugment", "--random_erasing_prob", "0.5",
    "--mixup_alpha", "0.8", "--cutmix_alpha", "1.0", "--mixup_prob", "1.0", "--label_smoothing_factor", "0.1",
    "--model_ema_decay", "0.9",
]  # fmt: skip
DIGITS_RUN = [
    "--dataset", "digits", "--model_type", "iso_transformer", "--preset", "micro-patch4-32",
    "--config_overrides", "num_hidden_layers=2,hidden_size=48,intermediate_size=64,drop_path_rate=0.1",
    "--train_fraction", "0.1", "--num_train_epochs", "2", "--per_device_train_batch_size", "16",
    "--learning_rate", "1e-3", "--save_strategy", "steps", "--save_steps", "4", "--logging_steps", "1",
    "--report_to", "none", "--seed", "0", "--dataloader_pin_memory", "false", "--do_train", "--do_eval",
    "--eval_strategy", "epoch", "--epoch_eval_samples", "40",
]  # fmt: skip


def identity_crop(**overrides) -> AugmentationConfig:
    return AugmentationConfig(
        crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_prob=0.0, jitter_prob=0.0, **overrides
    )


# --- augmentation -------------------------------------------------------------------------------------------------


def test_padded_crop_is_an_exact_integer_shift_with_reflection():
    images = torch.rand(64, 3, 8, 8)
    torch.manual_seed(0)
    shifted = BatchAugmentation(identity_crop(crop_padding=2))(images)
    # grid_sample's reflection mirrors at the image border, repeating the edge pixel (symmetric padding).
    rows = torch.arange(-2, 10)
    rows = torch.where(rows < 0, -rows - 1, torch.where(rows > 7, 15 - rows, rows))
    padded = images[:, :, rows][:, :, :, rows]
    for image, original in zip(shifted, padded, strict=True):
        windows = [original[:, y : y + 8, x : x + 8] for y in range(5) for x in range(5)]
        assert any(torch.allclose(image, window, atol=1e-5) for window in windows)
    assert not torch.allclose(shifted, images)  # some images moved


@pytest.mark.parametrize("policy", ["randaugment", "trivialaugment"])
def test_auto_augment_policies_keep_shape_and_range_and_vary_within_a_batch(policy):
    images = torch.rand(1, 3, 32, 32).expand(64, -1, -1, -1).contiguous()
    torch.manual_seed(0)
    augmented = BatchAugmentation(identity_crop(auto_augment=policy, auto_augment_group_size=8))(images)
    assert augmented.shape == images.shape
    assert augmented.min() >= 0 and augmented.max() <= 1
    change_per_group = (augmented - images).abs().mean(dim=(1, 2, 3)).view(8, 8).mean(dim=1)
    assert len(set(change_per_group.round(decimals=4).tolist())) > 1  # the groups drew different operations


def test_random_erasing_fills_a_box_with_grey():
    images = torch.zeros(16, 3, 32, 32)
    torch.manual_seed(0)
    erased = BatchAugmentation(identity_crop(random_erasing_prob=1.0))(images)
    assert torch.all((erased == 0) | (erased == 0.5))
    assert torch.all((erased == 0.5).flatten(1).any(dim=1))


EVERY_OPERATION = {
    "auto_augment": "randaugment", "random_erasing_prob": 0.5, "grayscale_prob": 0.3, "blur_prob": 0.5,
    "solarize_prob": 0.3, "jitter_prob": 0.8,
}  # fmt: skip


@pytest.mark.parametrize("policy", ["randaugment", "trivialaugment"])
def test_per_image_draws_augment_an_image_the_same_in_any_batch(policy):
    # What makes a batch split across processes augment like one process: each image's draws come from its seed.
    augmentation = BatchAugmentation(AugmentationConfig(**{**EVERY_OPERATION, "auto_augment": policy}))
    images = torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    seeds = list(range(1000, 1024))
    whole = augmentation(images, sample_seeds=seeds)
    order = torch.randperm(24, generator=torch.Generator().manual_seed(1)).tolist()
    first, second = order[:9], order[9:]
    parts = [augmentation(images[part], sample_seeds=[seeds[i] for i in part]) for part in (first, second)]
    torch.testing.assert_close(torch.cat(parts), whole[first + second], atol=1e-6, rtol=0)
    assert not torch.allclose(whole, images, atol=1e-3)
    # Another seed is another augmentation; per-batch draws (the default without seeds) are not per image.
    assert not torch.allclose(augmentation(images[:1], sample_seeds=[7]), whole[:1])
    torch.manual_seed(0)
    per_batch = BatchAugmentation(AugmentationConfig(**EVERY_OPERATION, per_image_draws=False))
    torch.manual_seed(0)
    assert not torch.allclose(per_batch(images, sample_seeds=seeds), whole)


def test_per_image_draws_leave_the_global_generator_alone_and_need_one_seed_per_image():
    augmentation = BatchAugmentation(AugmentationConfig(**EVERY_OPERATION))
    images = torch.rand(4, 3, 16, 16)
    torch.manual_seed(0)
    augmentation(images, sample_seeds=[1, 2, 3, 4])
    after = torch.rand(3)
    torch.manual_seed(0)
    torch.testing.assert_close(after, torch.rand(3))
    with pytest.raises(ValueError, match="3 sample seeds for a batch of 4"):
        augmentation(images, sample_seeds=[1, 2, 3])


def test_recipes_fetch_each_image_with_its_own_seed_through_seeded_batches():
    from inductive_zoo.data import DecodedImageDataset
    from inductive_zoo.data.augmentation import ImageClassificationCollator
    from inductive_zoo.training.seeded_data import SeededBatches

    augmentation = BatchAugmentation(AugmentationConfig(**EVERY_OPERATION))
    data = digits_dataset(seed=0)["train"]
    dataset = DecodedImageDataset(data, "train", "img", "label", 32, batch_transform=augmentation)
    batches = SeededBatches(dataset, ImageClassificationCollator((0.5,) * 3, (0.5,) * 3), seed=3)
    batches.epoch = 2
    (together,) = batches.__getitems__([5, 9, 12])
    (alone,) = batches.__getitems__([12])
    torch.testing.assert_close(alone["pixel_values"][0], together["pixel_values"][2], atol=1e-6, rtol=0)
    batches.epoch = 3
    (next_epoch,) = batches.__getitems__([12])
    assert not torch.allclose(next_epoch["pixel_values"], alone["pixel_values"])


def test_multi_process_runs_say_why_they_cannot_match_one_process():
    from inductive_zoo.training.seeded_data import multiprocess_differences

    assert multiprocess_differences(434, 31, 2, drop_last=False, per_batch_draws=[]) == []
    (partial,) = multiprocess_differences(143, 18, 2, drop_last=False, per_batch_draws=[])
    assert "holds 35 of the 143" in partial and "repeats 1 images" in partial and "--dataloader_drop_last" in partial
    assert multiprocess_differences(143, 18, 2, drop_last=True, per_batch_draws=[]) == []
    reasons = multiprocess_differences(434, 31, 2, drop_last=False, per_batch_draws=["mixup/CutMix pairs"])
    assert reasons == ["mixup/CutMix pairs are drawn per device batch, so splitting a batch changes them"]
    assert MixupCutmixCollator.per_batch_draws and BatchAugmentation().per_batch_draws is None
    assert BatchAugmentation(AugmentationConfig(per_image_draws=False)).per_batch_draws


def test_recipe_false_options_reach_the_command_line():
    # The 10 % recipes draw augmentation per batch, as their rows were trained; `False` must not vanish from argv.
    recipe = get_recipe("cifar10-10pct-ibit")
    assert recipe.arguments["per_image_draws"] is False
    assert recipe.argv()[recipe.argv().index("--per_image_draws") + 1] == "false"
    _, data_args, _ = parse_args(["--recipe", "cifar10-10pct-ibit", "--output_dir", "unused"])
    assert data_args.augmentation_config().per_image_draws is False
    _, data_args, _ = parse_args(["--recipe", "cifar10-10pct-ibit", "--output_dir", "unused", "--per_image_draws"])
    assert data_args.augmentation_config().per_image_draws is True


@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"auto_augment": "autoaugment"}, "auto_augment"),
        ({"random_erasing_prob": 1.5}, "random_erasing_prob"),
        ({"randaugment_magnitude": 31}, "randaugment_magnitude"),
        ({"crop_padding": -1}, "crop_padding"),
    ],
)
def test_bad_augmentation_options_name_the_option(overrides, option):
    with pytest.raises(ValueError, match=option):
        AugmentationConfig(**overrides)


# --- mixup / CutMix and the loss ----------------------------------------------------------------------------------


def collated(batch_size: int = 32, num_classes: int = 10):
    def collator(examples):
        return {
            "pixel_values": torch.stack([e["image"] for e in examples]),
            "labels": torch.tensor([e["label"] for e in examples]),
        }

    generator = torch.Generator().manual_seed(1)
    examples = [
        {"image": torch.rand(3, 16, 16, generator=generator), "label": index % num_classes}
        for index in range(batch_size)
    ]
    return collator, examples


@pytest.mark.parametrize(("mixup", "cutmix"), [(0.8, 0.0), (0.0, 1.0), (0.8, 1.0)])
def test_mixed_targets_sum_to_one_and_match_the_mixed_images(mixup, cutmix):
    collator, examples = collated()
    config = MixupCutmixConfig(mixup_alpha=mixup, cutmix_alpha=cutmix, label_smoothing=0.1)
    mixing = MixupCutmixCollator(collator, 10, config)
    for seed in range(5):
        torch.manual_seed(seed)
        batch = mixing(examples)
        targets = batch["labels"]
        assert targets.shape == (32, 10) and targets.dtype == torch.float32
        torch.testing.assert_close(targets.sum(dim=1), torch.ones(32))
        assert targets.min() >= 0.1 / 10 - 1e-6  # smoothing keeps every class
        # The weight of each sample's own label (less smoothing) is the share of its own image in the mix.
        own = targets[torch.arange(32), batch_labels(examples)]
        assert torch.all(own > 0.1 / 10)


def batch_labels(examples) -> torch.Tensor:
    return torch.tensor([example["label"] for example in examples])


def test_cutmix_weight_is_the_kept_area():
    collator, examples = collated(batch_size=8, num_classes=8)
    torch.manual_seed(3)
    batch = MixupCutmixCollator(collator, 8, MixupCutmixConfig(cutmix_alpha=1.0))(examples)
    originals = collator(examples)["pixel_values"]
    kept = (batch["pixel_values"] == originals).all(dim=1).float().mean(dim=(1, 2))
    own = batch["labels"][torch.arange(8), batch_labels(examples)]
    permuted_to_self = own == 1.0
    torch.testing.assert_close(own[~permuted_to_self], kept[~permuted_to_self])


def test_mixing_is_off_with_zero_probability_and_targets_are_smoothed_one_hot():
    collator, examples = collated()
    config = MixupCutmixConfig(mixup_alpha=0.8, prob=0.0, label_smoothing=0.2)
    batch = MixupCutmixCollator(collator, 10, config)(examples)
    torch.testing.assert_close(batch["pixel_values"], collator(examples)["pixel_values"])
    torch.testing.assert_close(batch["labels"], smoothed_targets(batch_labels(examples), 10, 0.2))


@pytest.mark.parametrize(
    ("overrides", "option"),
    [({"mixup_alpha": -0.1}, "mixup_alpha"), ({"cutmix_alpha": -1}, "cutmix_alpha"), ({"prob": 2}, "prob")],
)
def test_bad_mixing_options_name_the_option(overrides, option):
    with pytest.raises(ValueError, match=option):
        MixupCutmixConfig(**overrides)


def test_soft_target_cross_entropy_matches_cross_entropy_on_one_hot_targets():
    logits = torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    outputs = {"logits": logits}
    expected = torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(soft_target_cross_entropy(outputs, labels), expected)
    torch.testing.assert_close(soft_target_cross_entropy(outputs, smoothed_targets(labels, 4, 0.0)), expected)
    smoothed = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    torch.testing.assert_close(soft_target_cross_entropy(outputs, smoothed_targets(labels, 4, 0.1)), smoothed)
    with pytest.raises(ValueError, match="shape"):
        soft_target_cross_entropy(outputs, torch.rand(6, 5))


# --- data splits ----------------------------------------------------------------------------------------------


def test_validation_split_is_class_balanced_and_disjoint_from_the_training_subset():
    train = digits_dataset()["train"]
    train = train.add_column("row", list(range(len(train))))
    labels = np.asarray(train["label"])
    training = class_balanced_indices(labels, 0.3, seed=0)
    validation = held_out_subset(train, training, 200, "label")
    assert len(validation) == 200
    assert np.bincount(validation["label"]).tolist() == [20] * 10
    chosen = set(validation["row"])
    assert not chosen & set(training)
    with pytest.raises(ValueError, match="validation_size"):
        held_out_subset(train, training, 5000, "label")


# --- the catalogue ------------------------------------------------------------------------------------------------


def test_every_recipe_parses_and_builds_its_model():
    labels = [str(index) for index in range(10)]
    for name, recipe in RECIPES.items():
        model_args, data_args, training_args = parse_args(
            ["--recipe", name, "--output_dir", "unused", "--dataset", "digits"]
        )
        assert model_args.recipe == name
        assert model_args.model_type == recipe.model_type
        assert training_args.num_train_epochs == recipe.epochs
        assert data_args.train_fraction == recipe.arguments.get("train_fraction", 1.0)
        if model_args.model_name_or_path is not None:  # fine-tunes a pre-trained checkpoint made beforehand
            continue
        model, processor = build_model(model_args, labels)
        assert model.config.problem_type == "single_label_classification"
        released = name.startswith("cifar10-10pct") and recipe.model_type in CONFIG_CLASSES
        if released:  # the zoo's CPU recipes: at most 3 M parameters, under 12 MB in fp32
            parameters = sum(parameter.numel() for parameter in model.parameters())
            assert parameters * 4 < 12e6, name
        assert processor.size["height"] == 32


def test_arguments_after_the_recipe_override_it():
    model_args, _, training_args = parse_args(
        ["--recipe", "cifar10-10pct-convit", "--output_dir", "o", "--num_train_epochs", "3", "--seed", "2"]
    )
    assert training_args.num_train_epochs == 3 and training_args.seed == 2
    assert model_args.model_type == "convit"
    assert expand_recipe_argument(["--seed", "1"]) == ["--seed", "1"]
    recipe = ["--recipe", "cifar10-10pct-prs-vit", "--output_dir", "o"]
    assert parse_args(recipe)[1].augmentation_config().auto_augment == "randaugment"
    _, data_args, _ = parse_args([*recipe, "--auto_augment", "none"])  # turns the recipe's policy off
    assert data_args.auto_augment is None and data_args.augmentation_config().auto_augment is None
    assert parse_args(recipe)[1].augmentation_config().crop_padding == 4
    # IBiT's recipe turns RandAugment off on its own command line, not through DataArguments' default.
    ibit = RECIPES["cifar10-10pct-ibit"].argv()
    assert ibit[ibit.index("--auto_augment") + 1] == "none"
    ibit_args = parse_args([*ibit, "--output_dir", "o"])
    assert ibit_args[1].augmentation_config().auto_augment is None
    assert build_model(ibit_args[0], list("abcdefghij"))[0].config.drop_path_rate == 0.2  # tuning run F
    _, data_args, _ = parse_args([*recipe, "--crop_padding", "none"])  # back to the random resized crop
    assert data_args.crop_padding is None and data_args.augmentation_config().crop_padding is None
    assert parse_args([*recipe, "--crop_padding", "2"])[1].augmentation_config().crop_padding == 2
    with pytest.raises(ValueError, match="crop_padding must be a number of pixels or 'none', got 'four'"):
        parse_args([*recipe, "--crop_padding", "four"])


def test_unknown_recipe_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match=r"unknown recipe .nope.*cifar10-10pct-convit"):
        get_recipe("nope")
    with pytest.raises(ValueError, match="unknown recipe"):
        parse_args(["--recipe", "nope", "--output_dir", "o"])


def test_config_overrides_keep_lists_whole():
    assert parse_overrides("depths=[2,2,2,2],layer_type=basic,hidden_sizes=[64,128]") == {
        "depths": [2, 2, 2, 2],
        "layer_type": "basic",
        "hidden_sizes": [64, 128],
    }


# --- a run with every option --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_recipe_run(tmp_path_factory) -> Path:
    output_dir = tmp_path_factory.mktemp("all-options")
    run(*parse_args([*DIGITS_RUN, *ALL_OPTIONS, "--output_dir", str(output_dir)]))
    return output_dir


def test_a_model_trained_on_soft_targets_stays_single_label(full_recipe_run):
    config = json.loads((full_recipe_run / "config.json").read_text())
    assert config["problem_type"] == "single_label_classification"
    classifier = pipeline("image-classification", model=str(full_recipe_run), device="cpu")
    image = digits_dataset()["test"][0]["img"]
    scores = [entry["score"] for entry in classifier(image, top_k=10)]
    assert abs(sum(scores) - 1.0) < 1e-4  # softmax, not per-class sigmoids


def test_every_option_on_resumes_exactly(full_recipe_run, tmp_path):
    resumed = tmp_path / "resumed"
    checkpoint = full_recipe_run / "checkpoint-12"  # in the middle of epoch 1
    run(
        *parse_args(
            [*DIGITS_RUN, *ALL_OPTIONS, "--output_dir", str(resumed), "--resume_from_checkpoint", str(checkpoint)]
        )
    )
    reference = json.loads((full_recipe_run / "all_results.json").read_text())
    again = json.loads((resumed / "all_results.json").read_text())
    assert again["eval_loss"] == reference["eval_loss"]
    from safetensors.torch import load_file

    weights, resumed_weights = (
        load_file(full_recipe_run / "model.safetensors"),
        load_file(resumed / "model.safetensors"),
    )
    for name, tensor in weights.items():
        torch.testing.assert_close(resumed_weights[name], tensor, atol=0, rtol=0, msg=name)
    # The training time counts the part before the checkpoint too, not only the resumed part.
    before = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"][-1]["wall_time_s"]
    summary = json.loads((resumed / "training_summary.json").read_text())
    resumed_part = json.loads((resumed / "all_results.json").read_text())["train_runtime"]
    assert summary["training_time_s"] >= before + 0.9 * resumed_part


def test_the_log_has_wall_time_and_per_epoch_evaluation_uses_the_slice(full_recipe_run):
    history = json.loads((full_recipe_run / "trainer_state.json").read_text())["log_history"]
    evaluations = [entry for entry in history if "eval_accuracy" in entry]
    assert len(evaluations) == 2  # one per epoch
    times = [entry["wall_time_s"] for entry in history if "loss" in entry]
    assert times == sorted(times) and times[0] > 0
    summary = json.loads((full_recipe_run / "training_summary.json").read_text())
    assert summary["num_eval_examples"] == len(digits_dataset()["test"])  # the whole split, not the 40-image slice


def test_fine_tuning_a_checkpoint_without_a_problem_type_saves_a_single_label_model(tmp_path):
    # A pre-trained backbone (masked image modeling) saves no problem type; the fine-tuned classifier must say
    # single-label, or the widget and a pipeline would have to guess.
    from inductive_zoo import IsoConvNetForMaskedImageModeling
    from inductive_zoo.data import image_processor_for
    from inductive_zoo.training.image_classification import ModelArguments

    config = CONFIG_CLASSES["iso_convnet"].from_preset("micro-patch4-32", num_hidden_layers=1)
    IsoConvNetForMaskedImageModeling(config).save_pretrained(tmp_path / "pretrained")
    image_processor_for(32, 3).save_pretrained(tmp_path / "pretrained")
    assert "problem_type" not in json.loads((tmp_path / "pretrained" / "config.json").read_text())
    model_args = ModelArguments(model_name_or_path=str(tmp_path / "pretrained"), model_type="iso_convnet")
    model, _ = build_model(model_args, [str(label) for label in range(10)])
    assert model.config.problem_type == "single_label_classification"


@pytest.mark.parametrize("budget", ["small", "10pct", "full"])
def test_release_trains_every_variant_with_its_catalogue_recipe(budget):
    from inductive_zoo import VARIANTS
    from inductive_zoo.publishing.release import recipe_argv

    for config_class, _, _ in VARIANTS:
        model_args, _, training_args = parse_args(recipe_argv(config_class.model_type, budget, "digits", Path("o")))
        assert model_args.model_type == config_class.model_type
        assert model_args.recipe.startswith("cifar10-full" if budget == "full" else "cifar10-10pct")
        if budget == "small":
            assert training_args.max_steps == 3
    with pytest.raises(ValueError, match="budget"):
        recipe_argv("convit", "huge", "digits", Path("o"))


def test_release_exports_only_an_exact_vit_as_transformers_native():
    from inductive_zoo.publishing.native import is_transformers_native
    from inductive_zoo.publishing.release import BUDGETS, recipe_argv

    native = {}
    for budget in BUDGETS:
        model_args, _, _ = parse_args(recipe_argv("iso_transformer", budget, "digits", Path("o")))
        native[budget] = is_transformers_native(build_model(model_args, [str(label) for label in range(10)])[0].config)
    assert native == {"full": True, "10pct": False, "small": True}  # the 10 % recipe has a conv stem and drop path
    assert not is_transformers_native(PRSViTConfig())


def test_zoo_table_pools_seeds_of_a_recipe_and_reports_what_the_runs_measured(tmp_path):
    from inductive_zoo.studies.zoo_table import main as zoo_table_main
    from inductive_zoo.studies.zoo_table import read_runs

    recipe = "cifar10-10pct-iso-transformer"
    directories = {0: tmp_path / "runs", 1: tmp_path / "more"}  # one run in each, read together
    for seed in (0, 1):
        argv = [
            "--recipe", recipe, "--dataset", "digits", "--output_dir", str(directories[seed] / f"{recipe}-s{seed}"),
            "--config_overrides", "num_hidden_layers=1,hidden_size=32,num_attention_heads=2,intermediate_size=64",
            "--max_steps", "6", "--per_device_train_batch_size", "32", "--num_train_epochs", "2",
            "--epoch_eval_samples", "50", "--seed", str(seed), "--save_strategy", "no",
        ]  # fmt: skip
        run(*parse_args(argv))
    shutil.copytree(directories[0] / f"{recipe}-s0", directories[1] / f"{recipe}-s0")  # a copy is not a second run
    runs = read_runs(directories[0], directories[1])
    assert [(run.recipe, run.seed) for run in runs] == [(recipe, 0), (recipe, 1)]
    assert runs[0].directory == directories[0] / f"{recipe}-s0"
    accuracies = [json.loads((run.directory / "all_results.json").read_text())["eval_accuracy"] for run in runs]
    assert [run.top1 for run in runs] == accuracies
    assert all(len(run.curve) == 2 and run.num_eval_examples == len(digits_dataset()["test"]) for run in runs)
    table = zoo_table_main(
        ["--runs", *map(str, directories.values()), "--zoo", str(tmp_path / "zoo"), "--plot", str(tmp_path / "t.png")]
    )
    row = next(line for line in table.splitlines() if recipe in line)
    assert f"{np.mean(accuracies):.4f} ± {np.std(accuracies, ddof=1):.4f} (n=2)" in row
    assert (tmp_path / "t.png").stat().st_size > 0


def test_pretraining_on_the_complement_of_the_fine_tuning_subset():
    from inductive_zoo.training.pretraining import PretrainingArguments, pretraining_split

    train = digits_dataset()["train"]
    train = train.add_column("row", list(range(len(train))))
    fine_tuning = set(class_balanced_indices(np.asarray(train["label"]), 0.1, seed=0))
    split = pretraining_split(train, PretrainingArguments(exclude_train_fraction=0.1), "label")
    assert set(split["row"]) == set(range(len(train))) - fine_tuning
    with pytest.raises(ValueError, match="exclude each other"):
        pretraining_split(train, PretrainingArguments(exclude_train_fraction=0.1, train_fraction=0.5), "label")


def test_time_to_accuracy_is_the_first_evaluation_at_the_level_and_pools_seeds(tmp_path):
    from inductive_zoo.studies.zoo_table import ZooRun, rows_of, time_to_accuracy, time_to_accuracy_table

    curve = [(60.0, 0.40), (120.0, 0.56), (180.0, 0.52), (240.0, 0.61)]
    assert [time_to_accuracy(curve, level) for level in (0.45, 0.55, 0.60, 0.7)] == [120.0, 120.0, 240.0, None]

    def zoo_run(seed: int, run_curve: list[tuple[float, float]]) -> ZooRun:
        fields = ("test", 10, 0.6, None, None, None, "fp32 eager", 1, run_curve)
        return ZooRun(tmp_path, "cifar10-10pct-convit", seed, *fields)

    changed = dataclasses.replace(zoo_run(2, curve), arguments=("--auto_augment", "randaugment"))
    assert changed.recipe_cell == "`cifar10-10pct-convit` with `--auto_augment randaugment`"
    assert len(rows_of([zoo_run(0, curve), zoo_run(1, curve), changed])) == 2  # a changed recipe's runs apart
    table = time_to_accuracy_table([zoo_run(0, curve), zoo_run(1, [(600.0, 0.46)])])
    cells = "6 min (2 of 2 seeds) | 2 min (1 of 2 seeds) | 4 min (1 of 2 seeds) | not reached"
    assert f"| `cifar10-10pct-convit` | fp32 eager | {cells} |" in table
    assert time_to_accuracy_table([zoo_run(0, [(60.0, 0.3)])]).splitlines()[-1].count("not reached") == 4


def test_zoo_table_links_a_checkpoint_only_when_its_card_reports_the_row(tmp_path):
    from huggingface_hub import ModelCard, ModelCardData
    from huggingface_hub.repocard_data import EvalResult

    from inductive_zoo.studies.zoo_table import ZooRun, zoo_table

    def run(top1: float) -> ZooRun:
        return ZooRun(tmp_path, "cifar10-10pct-prs-vit", 0, "test", 10000, top1, None, 60.0, "CPU", "fp32 eager", 1, [])

    released = tmp_path / "zoo" / "prs-vit-cifar10-10pct"
    released.mkdir(parents=True)
    result = EvalResult(
        task_type="image-classification", dataset_type="cifar10", dataset_name="CIFAR-10", metric_type="accuracy",
        metric_value=0.5849,
    )  # fmt: skip
    data = ModelCardData(model_name="prs-vit", eval_results=[result])
    ModelCard(f"---\n{data.to_yaml()}\n---\n").save(released / "README.md")
    assert "| `zoo/prs-vit-cifar10-10pct` |" in zoo_table([run(0.5849)], tmp_path / "zoo").replace(
        str(tmp_path) + "/", ""
    )
    table = zoo_table([run(0.5796)], tmp_path / "zoo")
    assert "prs-vit-cifar10-10pct` (released from a run this table does not hold: 0.5849) |" in table
    assert "| CPU | fp32 eager |" in table  # the row says how it was trained
    # A run given other arguments than its recipe's is a row of its own, which names them.
    fields = ("test", 10000, 0.58, None, 60.0, "CPU", "fp32 eager", 1, [])
    changed = ZooRun(tmp_path, "cifar10-10pct-prs-vit", 1, *fields, ("--config_overrides", "drop_path_rate=0.2"))
    table = zoo_table([run(0.5796), changed], tmp_path / "zoo").splitlines()
    assert len(table) == 4 and table[2].startswith("| `cifar10-10pct-prs-vit` |")
    assert table[3].startswith("| `cifar10-10pct-prs-vit` with `--config_overrides drop_path_rate=0.2` |")
    # A checkpoint trained by another row of the table names that row, so a reader finds the command that repeats it.
    released_run = dataclasses.replace(changed, top1=0.5849)
    table = zoo_table([run(0.5796), released_run], tmp_path / "zoo").splitlines()
    assert table[2].endswith(
        "prs-vit-cifar10-10pct` (seed 1 of the fp32 eager row `cifar10-10pct-prs-vit` with "
        "`--config_overrides drop_path_rate=0.2`: 0.5849) |"
    )


def test_training_mode_names_precision_and_compilation():
    from inductive_zoo.training.records import training_mode

    assert training_mode({"bf16": False}) == "fp32 eager"  # recorded before torch_compile was: it was off
    assert training_mode({"bf16": True, "torch_compile": False}) == "bf16"
    assert training_mode({"fp16": True, "torch_compile": True}) == "compile + fp16"
    assert training_mode({"bf16": False, "torch_compile": True}) == "compile"


def test_a_run_records_the_arguments_it_was_given_and_its_card_repeats_them():
    from inductive_zoo.publishing.cards import repeat_command
    from inductive_zoo.studies.zoo_table import extra_arguments
    from inductive_zoo.training.records import TrainingSummary, repeatable_command

    given = ["--recipe", "cifar10-10pct-prs-vit", "--dataset", "../shared/datasets/cifar10", "--output_dir", "o",
             "--seed", "3", "--resume_from_checkpoint=auto", "--num_train_epochs", "100"]  # fmt: skip
    model_args, _, _ = parse_args(given)
    # Where the run is written and how it resumed do not change it: left out.
    assert model_args.command == repeatable_command(given) == [
        "--recipe", "cifar10-10pct-prs-vit", "--dataset", "../shared/datasets/cifar10", "--seed", "3",
        "--num_train_epochs", "100",
    ]  # fmt: skip
    assert extra_arguments(model_args.command) == ("--num_train_epochs", "100")
    summary = TrainingSummary("d", "test", 1, 1, "prs_vit", None, None, 0.1, recipe_name="cifar10-10pct-prs-vit")
    assert repeat_command(summary) is None  # nothing recorded, nothing invented
    summary = dataclasses.replace(summary, command=[*model_args.command, "--config_overrides", "drop_path_rate=0.2"])
    command = repeat_command(summary, dataset_id="uoft-cs/cifar10")
    assert command == (
        "inductive-zoo train --recipe cifar10-10pct-prs-vit --dataset uoft-cs/cifar10 --seed 3 --num_train_epochs 100 "
        "--config_overrides drop_path_rate=0.2 --output_dir outputs/cifar10-10pct-prs-vit"
    )
    assert "--dataset 'my images' " in repeat_command(dataclasses.replace(summary, command=["--dataset", "my images"]))
    # The card's command, given to `inductive-zoo train`, sets what the run was given.
    repeated, _, training_args = parse_args(shlex.split(command)[2:])
    assert training_args.num_train_epochs == 100 and training_args.seed == 3
    assert repeated.command == shlex.split(command)[2:-2]


def test_config_overrides_after_a_recipe_add_to_its_own():
    argv = ["--recipe", "cifar10-10pct-convit", "--output_dir", "o", "--config_overrides", "drop_path_rate=0.2"]
    model_args, _, _ = parse_args(argv)
    overrides = parse_overrides(model_args.config_overrides)
    assert overrides["drop_path_rate"] == 0.2 and overrides["hidden_size"] == 144
    model_args, _, _ = parse_args([*argv[:-2], "--config_overrides=hidden_size=72"])
    assert parse_overrides(model_args.config_overrides)["hidden_size"] == 72
    for empty in (["--config_overrides", ""], ["--config_overrides="]):  # an empty one drops the recipe's own
        assert parse_args([*argv[:-2], *empty])[0].config_overrides == ""


def test_zoo_table_shows_top1_with_tta_and_a_fast_recipe_replaces_its_variants_checkpoint(tmp_path):
    from inductive_zoo.studies.zoo_table import ZooRun, released_name, zoo_table

    fields = ("test", 10000, 0.6, 0.9, 600.0, "CPU (AMD EPYC), 1 thread", "bf16", 1, [])
    with_tta = ZooRun(tmp_path, "cifar10-10pct-fast-prs-vit", 0, *fields, top1_tta=0.62)
    without = ZooRun(tmp_path, "cifar10-10pct-prs-vit", 0, *fields)
    table = zoo_table([with_tta, without])
    assert "| 0.6000 | 0.6200 | 0.9000 | 10 min | CPU (AMD EPYC), 1 thread |" in table
    assert "| 0.6000 | - | 0.9000 |" in table  # a run without TTA says so
    assert released_name("cifar10-10pct-fast-prs-vit") == released_name("cifar10-10pct-prs-vit")
    assert released_name("cifar10-10pct-distilled-prs-vit") == "prs-vit-distilled-cifar10-10pct"
    assert released_name("cifar10-10pct-semi-supervised-prs-vit") == "prs-vit-semi-supervised-cifar10-10pct"
    # A run fine-tuned from a pre-training run sits beside the scratch release; a recipe naming its start keeps it.
    assert released_name("cifar10-10pct-fast-iso-transformer", "mim") == "iso-transformer-from-mim-cifar10-10pct"
    assert released_name("cifar10-10pct-iso-convnet-from-mim", "mim") == "iso-convnet-from-mim-cifar10-10pct"
    longer = ZooRun(tmp_path, "cifar10-10pct-fast-prs-vit", 0, *fields, arguments=("--num_train_epochs", "100"))
    rows = [line for line in zoo_table([with_tta, longer]).splitlines() if "fast-prs-vit" in line]
    assert len(rows) == 2 and "| `cifar10-10pct-fast-prs-vit` with `--num_train_epochs 100` |" in rows[1]
