"""The pre-training recipe end to end on a small real CIFAR-10 subset, for each objective."""

import json

import pytest
from transformers import AutoModelForImageClassification

from inductive_zoo.training.pretraining import main


@pytest.mark.parametrize(
    ("objective", "model_type", "extra"),
    [
        ("mim", "iso_convnet", []),
        ("simclr", "iso_transformer", []),
        (
            "dino",
            "iso_transformer",
            # Tiny-scale DINO settings that do not collapse (see tests/test_joint_embedding.py).
            [
                "--num_local_views",
                "2",
                "--config_overrides",
                "dino_out_features=1024,dino_center_momentum=0.99,dino_warmup_teacher_temperature=0.015,"
                "dino_teacher_temperature=0.02",
            ],
        ),
    ],
)
def test_pretraining_recipe_trains_evaluates_and_saves_a_loadable_backbone(
    objective, model_type, extra, cifar10_path, tmp_path
):
    results = main(
        [
            "--objective", objective, "--model_type", model_type, "--preset", "micro-patch4-32",
            "--dataset", str(cifar10_path), "--train_fraction", "0.01", "--eval_bank_size", "300", "--eval_size", "200",
            "--output_dir", str(tmp_path), "--num_train_epochs", "2", "--per_device_train_batch_size", "50",
            "--learning_rate", "1e-3", "--logging_steps", "2", "--save_strategy", "no", "--report_to", "none",
            "--dataloader_pin_memory", "false", "--seed", "0", *extra,
        ]
    )  # fmt: skip
    saved = json.loads((tmp_path / "pretraining_results.json").read_text())
    assert saved["objective"] == objective and saved["train_images"] == 500
    for stage in ("initial", "pretrained"):  # scored on the 200 held-out images
        for metric in ("knn_accuracy", "linear_probe_accuracy"):
            assert saved[stage][metric] * 200 == pytest.approx(round(saved[stage][metric] * 200)), saved
    # The evaluation after pre-training reads the trained backbone, not the initial one.
    assert saved["pretrained"] != saved["initial"]
    if objective == "mim":
        assert saved["pretrained"]["reconstruction_loss"] < saved["initial"]["reconstruction_loss"]
    assert results["losses"][-1] < results["losses"][0]
    classifier = AutoModelForImageClassification.from_pretrained(tmp_path, num_labels=10)
    assert type(classifier).__name__.endswith("ForImageClassification")
    assert (tmp_path / "preprocessor_config.json").exists()


def test_unknown_objective_is_refused(tmp_path):
    with pytest.raises(ValueError, match="objective must be one of"):
        main(["--objective", "byol", "--output_dir", str(tmp_path)])


@pytest.mark.slow
def test_short_masked_image_modeling_beats_the_initialisation_on_knn_accuracy(cifar10_path, tmp_path):
    # IsoConvNet with per-patch normalised targets (MAE's norm_pix_loss), the settings of the isotropic-bias study:
    # 5,000 images, 8 epochs (320 steps). Measured here: k-NN 0.267 -> 0.285 (0.304 in a run whose random stream
    # differed); with 2,000 images and 4 epochs k-NN fell (0.266 -> 0.250), so this is the smallest setting that
    # showed a gain. The linear probe moved within noise (0.352 -> 0.342 / 0.398) and is not asserted.
    results = main(
        [
            "--objective", "mim", "--model_type", "iso_convnet", "--preset", "micro-patch4-32",
            "--config_overrides", "mim_norm_target=true", "--dataset", str(cifar10_path), "--train_fraction", "0.1",
            "--eval_bank_size", "2000", "--eval_size", "1000", "--output_dir", str(tmp_path),
            "--num_train_epochs", "8", "--per_device_train_batch_size", "128", "--learning_rate", "2e-3",
            "--weight_decay", "0.05", "--lr_scheduler_type", "cosine", "--warmup_steps", "0.05",
            "--save_strategy", "no", "--report_to", "none", "--dataloader_pin_memory", "false", "--seed", "0",
        ]
    )  # fmt: skip
    initial, pretrained = results["initial"], results["pretrained"]
    assert pretrained["reconstruction_loss"] < 0.7 * initial["reconstruction_loss"]
    assert pretrained["knn_accuracy"] > initial["knn_accuracy"] + 0.01, (initial, pretrained)


def test_fine_tuning_refuses_a_validation_split_the_backbone_was_pre_trained_on(tmp_path):
    """Pre-training on the images outside the labelled fraction includes the validation split that fine-tuning holds
    out from them, unless `--exclude_validation_size` leaves it out too; the chain then runs end to end."""
    from inductive_zoo.training.image_classification import parse_args, run

    def pretrain(output_dir, *extra):
        main(
            [
                "--objective", "mim", "--model_type", "iso_convnet", "--preset", "micro-patch4-32",
                "--config_overrides", "hidden_size=16,num_hidden_layers=1", "--dataset", "digits",
                "--exclude_train_fraction", "0.2", "--eval_bank_size", "100", "--eval_size", "50",
                "--output_dir", str(output_dir), "--max_steps", "1", "--per_device_train_batch_size", "32",
                "--save_strategy", "no", "--report_to", "none", *extra,
            ]
        )  # fmt: skip

    def fine_tune(checkpoint):
        arguments = [
            "--model_name_or_path", str(checkpoint), "--dataset", "digits", "--train_fraction", "0.2",
            "--validation_size", "100", "--output_dir", str(tmp_path / "finetuned"), "--do_train", "--do_eval",
            "--max_steps", "1", "--per_device_train_batch_size", "32", "--report_to", "none", "--save_strategy", "no",
        ]  # fmt: skip
        return run(*parse_args(arguments))

    pretrain(tmp_path / "overlapping")
    with pytest.raises(ValueError, match=r"was pre-trained on 100 of the 100 images of the validation split"):
        fine_tune(tmp_path / "overlapping")
    pretrain(tmp_path / "apart", "--exclude_validation_size", "100")
    record = json.loads((tmp_path / "apart" / "pretraining_data.json").read_text())
    assert record["exclude_validation_size"] == 100 and record["dataset"] == "digits"
    _, metrics = fine_tune(tmp_path / "apart")
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
