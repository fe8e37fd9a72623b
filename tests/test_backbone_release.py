"""A self-supervised pre-training run released as a backbone: an `AutoModel` repository whose card reports the run's
frozen-feature accuracy and repeats its command, which loads and fine-tunes through plain `Trainer` without the
package."""

import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from test_publishing import BLOCK_PACKAGE
from transformers import AutoModel

from inductive_zoo.publishing.cards import start_objective
from inductive_zoo.publishing.publish import PublishError, stage_repository
from inductive_zoo.studies.release_table import card_command_arguments
from inductive_zoo.training.pretraining import main as pretrain
from inductive_zoo.training.pretraining import parse_args
from inductive_zoo.training.records import PRETRAINING_RESULTS_FILE, PretrainingRecord

REPO_ID = "inductive-zoo/prs-vit-mim-digits"
TINY_PRS_VIT = "hidden_size=36,num_hidden_layers=2,num_reparameterizable_layers=1,intermediate_size=72"
# Loads the backbone and a classifier with a fresh 3-label head without the package, prints the backbone's features
# of fixed inputs, then trains the classifier for two steps with plain `Trainer`.
FINE_TUNE = """
import json, sys, torch
from torch.utils.data import Dataset
from transformers import AutoModel, AutoModelForImageClassification, Trainer, TrainingArguments
repo, output_dir = sys.argv[1], sys.argv[2]
pixels = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
backbone = AutoModel.from_pretrained(repo, trust_remote_code=True).eval()
with torch.no_grad():
    features = backbone(pixel_values=pixels).pooler_output
model = AutoModelForImageClassification.from_pretrained(repo, num_labels=3, trust_remote_code=True)
class Images(Dataset):
    def __len__(self):
        return 8
    def __getitem__(self, index):
        return {"pixel_values": torch.randn(3, 32, 32), "labels": index % 3}
args = TrainingArguments(output_dir, max_steps=2, per_device_train_batch_size=4, report_to="none", use_cpu=True)
loss = Trainer(model=model, args=args, train_dataset=Images()).train().training_loss
print(json.dumps({"features": features.tolist(), "head": list(model.classifier.weight.shape), "loss": loss,
                  "backbone": type(backbone).__module__}))
"""


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """A tiny PRS-ViT pre-trained by masked image modeling on the embedded digits for a few steps."""
    output_dir = tmp_path_factory.mktemp("pretraining") / "mim-prs-vit"
    pretrain(
        [
            "--objective", "mim", "--model_type", "prs_vit", "--preset", "micro-patch4-32", "--dataset", "digits",
            "--config_overrides", TINY_PRS_VIT,
            "--schedule", "never", "--eval_bank_size", "100", "--eval_size", "50", "--output_dir", str(output_dir),
            "--max_steps", "3", "--per_device_train_batch_size", "32", "--logging_steps", "1", "--save_strategy", "no",
            "--report_to", "none", "--seed", "0",
        ]
    )  # fmt: skip
    return output_dir


@pytest.fixture(scope="module")
def staged(pretrained, tmp_path_factory) -> Path:
    staging = tmp_path_factory.mktemp("staged")
    stage_repository(pretrained, staging, REPO_ID, endpoint="https://huggingface.co", remote_code=True)
    return staging


def test_the_backbone_repository_is_the_encoder_alone_with_its_code(pretrained, staged):
    files = sorted(path.name for path in staged.iterdir())
    assert files == [
        "README.md", "config.json", "configuration_prs_vit.py", "model.safetensors", "modeling_prs_vit.py",
        "preprocessor_config.json",
    ]  # fmt: skip
    config = json.loads((staged / "config.json").read_text())
    assert config["architectures"] == ["PRSViTModel"]
    assert config["auto_map"]["AutoModel"] == "modeling_prs_vit.PRSViTModel"
    released, encoder = AutoModel.from_pretrained(staged), AutoModel.from_pretrained(pretrained)
    assert released.state_dict().keys() == encoder.state_dict().keys()
    assert all(torch.equal(value, encoder.state_dict()[name]) for name, value in released.state_dict().items())


def test_the_backbone_card_reports_the_runs_frozen_feature_accuracy_and_repeats_its_command(pretrained, staged):
    record = PretrainingRecord.load(pretrained)
    card = ModelCard.load(staged / "README.md")
    assert card.data.pipeline_tag == "image-feature-extraction"
    results = {result.metric_name: result for result in card.data.eval_results}
    assert results["k-NN top-1 accuracy (frozen features)"].metric_value == round(record.pretrained["knn_accuracy"], 6)
    probe = results["Linear-probe top-1 accuracy (frozen features)"]
    assert probe.metric_value == round(record.pretrained["linear_probe_accuracy"], 6)
    assert probe.dataset_split == record.eval_split == "test"
    assert f"on {record.train_images:,} training images" in " ".join(card.text.split())
    command = next(line for line in card.text.splitlines() if line.startswith("inductive-zoo pretrain "))
    arguments = shlex.split(command)[2:]
    assert arguments[: len(record.command)] == record.command
    repeated, _ = parse_args(arguments)
    assert (repeated.objective, repeated.model_type, repeated.schedule) == ("mim", "prs_vit", "never")


def test_the_backbone_loads_and_fine_tunes_with_a_fresh_head_through_plain_trainer_without_the_package(
    pretrained, staged, tmp_path
):
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_PACKAGE + FINE_TUNE, str(staged), str(tmp_path / "finetuned")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert not outcome["backbone"].startswith("inductive_zoo")
    assert outcome["head"] == [3, 36]
    assert math.isfinite(outcome["loss"])
    pixels = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
    with torch.no_grad():
        expected = AutoModel.from_pretrained(pretrained).eval()(pixel_values=pixels).pooler_output
    torch.testing.assert_close(torch.tensor(outcome["features"]), expected, rtol=1e-5, atol=1e-5)


def test_classifier_options_are_refused_for_a_backbone(pretrained, tmp_path):
    with pytest.raises(PublishError, match="published as a backbone: --as-transformers-native"):
        stage_repository(pretrained, tmp_path, REPO_ID, endpoint="https://huggingface.co", as_transformers_native=True)


def test_a_pre_training_record_without_a_field_names_it(pretrained, tmp_path):
    saved = json.loads((pretrained / PRETRAINING_RESULTS_FILE).read_text())
    del saved["command"], saved["hardware"]
    (tmp_path / PRETRAINING_RESULTS_FILE).write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="lacks hardware, command"):
        PretrainingRecord.load(tmp_path)


def test_the_pre_training_to_fine_tuning_chain_starts_from_the_encoder_and_switches_prs_blocks(pretrained, tmp_path):
    """Pre-trained in convolution mode (`--schedule never`), PRS-ViT is fine-tuned by the supervised recipe, whose
    linear schedule switches its blocks to attention as from scratch; the classifier starts from the encoder."""
    from inductive_zoo.training.image_classification import build_model, run
    from inductive_zoo.training.image_classification import parse_args as parse_train_args
    from inductive_zoo.training.records import TrainingSummary

    output_dir = tmp_path / "finetuned"
    argv = [
        "--model_name_or_path", str(pretrained), "--dataset", "digits", "--schedule", "linear", "--conv_epochs", "1",
        "--num_train_epochs", "2", "--train_fraction", "0.05", "--max_eval_samples", "50", "--hflip_prob", "0",
        "--per_device_train_batch_size", "32", "--output_dir", str(output_dir), "--do_train", "--do_eval",
        "--eval_strategy", "no", "--save_strategy", "no", "--report_to", "none", "--seed", "0",
    ]  # fmt: skip
    model_args, _, _ = parse_train_args(argv)
    classifier, _ = build_model(model_args, [str(digit) for digit in range(10)])
    encoder = AutoModel.from_pretrained(pretrained).state_dict()
    assert classifier.backbone.state_dict().keys() == encoder.keys()
    assert all(torch.equal(value, encoder[name]) for name, value in classifier.backbone.state_dict().items())

    _, metrics = run(*parse_train_args(argv))
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
    assert TrainingSummary.load(output_dir).initialized_from == str(pretrained)
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    assert [entry["prs_switched_layer"] for entry in history if "prs_switched_layer" in entry] == [0]
    # Its card names the start's pre-training (objective, images, command) and links the released backbone.
    staging = tmp_path / "staged"
    staging.mkdir()
    stage_repository(output_dir, staging, "inductive-zoo/prs-vit-from-mim-digits", endpoint="https://huggingface.co",
                     base_model_id=REPO_ID)  # fmt: skip
    card = ModelCard.load(staging / "README.md")
    assert card.data.base_model == REPO_ID
    assert start_objective(card.data) == "mim" and "self-supervised" in card.data.tags
    record = PretrainingRecord.load(pretrained)
    assert (
        f"pre-trained without labels by masked image modeling (the pixels of masked patches reconstructed) "
        f"(`inductive-zoo pretrain --objective mim`) on {record.train_images:,} training images"
    ) in " ".join(card.text.split())
    # The pre-training command writes where the training command reads, so the two repeat as a chain.
    pretraining = next(line for line in card.text.splitlines() if line.startswith("inductive-zoo pretrain "))
    assert pretraining == shlex.join(["inductive-zoo", "pretrain", *record.command, "--output_dir", str(pretrained)])
    training = card_command_arguments(card.text)
    assert training[training.index("--model_name_or_path") + 1] == str(pretrained)
