"""The released checkpoints under `zoo/`: each is a complete Hub repository that loads offline with the Auto classes
and `pipeline`, stays single-label, fits the size budget, and (slow) reproduces its card's accuracy on CIFAR-10."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image
from test_backbone_release import FINE_TUNE
from test_publishing import BLOCK_PACKAGE, PREDICT
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline

import inductive_zoo  # noqa: F401  (registers the zoo's models with the Auto classes)
from inductive_zoo.publishing.cards import start_objective
from inductive_zoo.publishing.remote_code import remote_code
from inductive_zoo.studies.release_table import (
    END,
    START,
    card_command_arguments,
    is_backbone,
    read_releases,
    released_directories,
    zoo_tables,
)
from inductive_zoo.studies.zoo_table import released_name
from inductive_zoo.training.config_overrides import model_field_differences
from inductive_zoo.training.image_classification import build_model, parse_args
from inductive_zoo.training.recipes import RECIPES

ZOO = Path(__file__).resolve().parents[1] / "zoo"
EVERY_RELEASE = released_directories(ZOO) if ZOO.is_dir() else []
# Image classifiers; the self-supervised backbones (`AutoModel` checkpoints) have tests of their own below.
RELEASED = [path for path in EVERY_RELEASE if not is_backbone(path)]
BACKBONES = [path for path in EVERY_RELEASE if is_backbone(path)]
REPOSITORY_FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "README.md")


def run_offline_without_the_package(code: str, *arguments: str) -> dict:
    """Runs `code` in a fresh offline interpreter (the code blocks `inductive_zoo` itself) and returns the JSON its
    last line of output prints."""
    result = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def card_accuracy(checkpoint: Path) -> tuple[float, str]:
    """The top-1 accuracy of the card's `model-index` and the split it was measured on."""
    results = ModelCard.load(checkpoint / "README.md").data.eval_results
    top1 = next(result for result in results if result.metric_type == "accuracy")
    return top1.metric_value, top1.dataset_split


def test_the_readme_s_release_table_is_today_s_generation_from_the_cards():
    """One row per released checkpoint, each with its own card's figures: the README holds exactly what
    `inductive-zoo study release-table --zoo zoo --readme README.md` writes."""
    releases = read_releases(ZOO)
    assert [release.directory.name for release in releases] == sorted(
        (path.name for path in RELEASED), key=lambda name: -card_accuracy(ZOO / name)[0]
    )
    for release in releases:
        assert release.top1 == card_accuracy(release.directory)[0]
    readme = (ZOO.parent / "README.md").read_text()
    committed = readme.split(START, 1)[1].split(END, 1)[0].strip("\n")
    assert committed == zoo_tables(ZOO).strip("\n").replace("`" + str(ZOO), "`zoo"), (
        "the README's release table is stale: run `inductive-zoo study release-table --zoo zoo --readme README.md`"
    )


def test_the_zoo_fits_its_size_budget():
    assert RELEASED, "zoo/ holds no released checkpoint"
    total = sum(path.stat().st_size for path in ZOO.rglob("*") if path.is_file())
    assert total < 100e6
    for checkpoint in EVERY_RELEASE:
        assert (checkpoint / "model.safetensors").stat().st_size < 12e6, checkpoint.name


@pytest.mark.parametrize("checkpoint", RELEASED, ids=[path.name for path in RELEASED])
def test_a_released_checkpoint_loads_offline_and_stays_single_label(checkpoint):
    for name in REPOSITORY_FILES:
        assert (checkpoint / name).is_file(), name
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["problem_type"] == "single_label_classification"
    assert len(config["id2label"]) == 10
    assert "auto_map" in config  # trust_remote_code works without the package
    model = AutoModelForImageClassification.from_pretrained(checkpoint).eval()
    assert type(model).__module__.startswith("inductive_zoo.")
    examples = sorted((checkpoint / "examples").glob("*.png"))
    assert examples, "no widget images"
    classifier = pipeline("image-classification", model=str(checkpoint), device="cpu")
    results = classifier([Image.open(path) for path in examples], top_k=len(config["id2label"]))
    for result in results:
        assert abs(sum(entry["score"] for entry in result) - 1.0) < 1e-4  # softmax, not multi-label sigmoids
    card = ModelCard.load(checkpoint / "README.md")
    assert card.data.pipeline_tag == "image-classification"
    # No inference provider runs a custom architecture: each widget example shows the checkpoint's own top-5.
    outputs = {entry["src"].rsplit("/", 1)[-1]: entry["output"] for entry in card.data.widget}
    for path, result in zip(examples, results, strict=True):
        expected = [{"label": entry["label"], "score": round(entry["score"], 4)} for entry in result[:5]]
        assert outputs[path.name] == expected, path.name
    accuracy, split = card_accuracy(checkpoint)
    assert split == "test" and 0.1 < accuracy <= 1.0
    summary_recipe = (checkpoint / "README.md").read_text().split("--recipe ")[1].split()[0]
    assert summary_recipe in RECIPES and released_name(summary_recipe, start_objective(card.data)) == checkpoint.name


@pytest.mark.parametrize("checkpoint", RELEASED, ids=[path.name for path in RELEASED])
def test_a_released_card_command_builds_its_checkpoint_model(checkpoint):
    """The card's command, given to `inductive-zoo train` today, builds the model the checkpoint holds (a recipe that
    changed a model field since the release must show in the command as the override that repeats it)."""
    command = card_command_arguments((checkpoint / "README.md").read_text())
    model_args, _, _ = parse_args(command)
    if model_args.model_name_or_path:
        pytest.skip(f"fine-tuned from {model_args.model_name_or_path}, which builds the model")
    saved = AutoConfig.from_pretrained(checkpoint)
    built, _ = build_model(model_args, [saved.id2label[index] for index in sorted(saved.id2label)])
    assert model_field_differences(built.config, saved) == [], command


@pytest.mark.parametrize("checkpoint", RELEASED, ids=[path.name for path in RELEASED])
def test_a_released_checkpoint_loads_with_trust_remote_code_without_the_package(checkpoint, tmp_path):
    examples = sorted((checkpoint / "examples").glob("*.png"))
    code = BLOCK_PACKAGE + PREDICT + "\nassert not any(name.startswith('inductive_zoo') for name in sys.modules)\n"
    arguments = [str(checkpoint), json.dumps(list(map(str, examples))), json.dumps({"trust_remote_code": True})]
    remote = run_offline_without_the_package(code, *arguments)
    assert remote["class"].startswith("transformers_modules.")
    model = AutoModelForImageClassification.from_pretrained(checkpoint).eval()
    processor = AutoImageProcessor.from_pretrained(checkpoint)
    with torch.no_grad():
        logits = model(**processor([Image.open(path) for path in examples], return_tensors="pt")).logits
    torch.testing.assert_close(torch.tensor(remote["logits"]), logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("checkpoint", EVERY_RELEASE, ids=[path.name for path in EVERY_RELEASE])
def test_a_released_checkpoint_s_remote_code_is_today_s_generation(checkpoint):
    code = remote_code(AutoConfig.from_pretrained(checkpoint))
    assert sorted(path.name for path in checkpoint.glob("*.py")) == sorted(code.files)
    for name, source in code.files.items():
        assert (checkpoint / name).read_text() == source, f"{name} is stale: regenerate it with add_remote_code"
    assert json.loads((checkpoint / "config.json").read_text())["auto_map"] == code.auto_map


# Loads every released checkpoint at 64 pixels through its remote code and prints, per checkpoint, the logits' shape
# or the error.
AT_64_PIXELS = """
import json, sys, torch
from transformers import AutoModelForImageClassification
outcomes = {}
for path in json.loads(sys.argv[1]):
    try:
        model = AutoModelForImageClassification.from_pretrained(path, trust_remote_code=True, image_size=64).eval()
        with torch.no_grad():
            outcomes[path] = [model.config.image_size, list(model(torch.randn(1, 3, 64, 64)).logits.shape)]
    except ValueError as error:
        outcomes[path] = str(error)
print(json.dumps(outcomes))
"""


def test_every_released_checkpoint_moves_to_64_pixels_without_the_package_except_isomixer():
    outcomes = run_offline_without_the_package(BLOCK_PACKAGE + AT_64_PIXELS, json.dumps([str(p) for p in RELEASED]))
    for path, outcome in outcomes.items():
        if AutoConfig.from_pretrained(path).model_type == "iso_mixer":
            assert "token-mixing MLP has one weight per token position" in outcome
        else:
            assert outcome == [64, [1, 10]], path


@pytest.mark.slow
@pytest.mark.parametrize("checkpoint", RELEASED, ids=[path.name for path in RELEASED])
def test_a_released_checkpoint_reproduces_its_card_accuracy_on_the_cifar10_test_split(checkpoint, cifar10_path):
    from inductive_zoo.data import DecodedImageDataset, ImageClassificationCollator, load_image_dataset

    data = load_image_dataset(str(cifar10_path))
    model = AutoModelForImageClassification.from_pretrained(checkpoint).eval()
    processor = AutoImageProcessor.from_pretrained(checkpoint)
    test = DecodedImageDataset(
        data.splits["test"], "test", data.image_column, data.label_column, model.config.image_size
    )
    collator = ImageClassificationCollator(processor.image_mean, processor.image_std)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(test), 500):
            batch = collator(test.__getitems__(list(range(start, min(start + 500, len(test))))))
            correct += (model(pixel_values=batch["pixel_values"]).logits.argmax(-1) == batch["labels"]).sum().item()
    accuracy, _ = card_accuracy(checkpoint)
    assert abs(correct / len(test) - accuracy) <= 0.005, (correct / len(test), accuracy)


def test_the_release_table_refuses_a_card_without_its_training_sentence_and_a_readme_without_markers(tmp_path):
    from inductive_zoo.studies.release_table import read_release, replace_between_markers

    checkpoint = tmp_path / "prs-vit-cifar10-10pct"
    checkpoint.mkdir()
    source = ZOO / "prs-vit-cifar10-10pct"
    for name in ("config.json", "model.safetensors"):
        (checkpoint / name).write_bytes((source / name).read_bytes())
    card = (source / "README.md").read_text()
    (checkpoint / "README.md").write_text(card)
    assert read_release(checkpoint).recipe == "cifar10-10pct-fast-prs-vit"
    (checkpoint / "README.md").write_text(card.replace("Training took", "It took"))
    with pytest.raises(ValueError, match=r"README\.md: no 'Training took"):
        read_release(checkpoint)
    with pytest.raises(ValueError, match="no <!-- RELEASE_TABLE_START -->"):
        replace_between_markers("# a README without the table\n", "| table |\n", "README.md")
    assert replace_between_markers(f"a\n{START}\nold\n{END}\nb\n", "| new |\n", "README.md") == (
        f"a\n{START}\n| new |\n{END}\nb\n"
    )


@pytest.mark.parametrize("backbone", BACKBONES, ids=[path.name for path in BACKBONES])
def test_a_released_backbone_loads_with_automodel_and_fine_tunes_with_a_fresh_head_without_the_package(
    backbone, tmp_path
):
    card = ModelCard.load(backbone / "README.md")
    assert card.data.pipeline_tag == "image-feature-extraction" and "base_model" not in card.data.to_dict()
    outcome = run_offline_without_the_package(BLOCK_PACKAGE + FINE_TUNE, str(backbone), str(tmp_path / "finetuned"))
    config = AutoConfig.from_pretrained(backbone)
    assert outcome["head"] == [3, config.hidden_size]
    pixels = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
    with torch.no_grad():
        features = AutoModel.from_pretrained(backbone).eval()(pixel_values=pixels).pooler_output
    torch.testing.assert_close(torch.tensor(outcome["features"]), features, rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", BACKBONES, ids=[path.name for path in BACKBONES])
def test_a_released_backbone_reproduces_its_card_s_frozen_feature_accuracy(backbone, cifar10_path):
    """The card's k-NN and linear-probe accuracy, re-measured from the released weights with the memory bank and
    evaluation images that the card's `inductive-zoo pretrain` command selects."""
    from inductive_zoo.data import load_image_dataset
    from inductive_zoo.studies.release_table import PRETRAINING_COMMAND
    from inductive_zoo.training.pretraining import (
        evaluate_representation,
        frozen_feature_evaluation_sets,
        parse_args,
        pretraining_split,
    )

    card = ModelCard.load(backbone / "README.md")
    args, _ = parse_args(shlex.split(PRETRAINING_COMMAND.search(card.text).group(1))[2:])
    data = load_image_dataset(str(cifar10_path), seed=0)
    train = pretraining_split(data.splits["train"], args, data.label_column)
    bank, held_out = frozen_feature_evaluation_sets(data, train, args, AutoConfig.from_pretrained(backbone).image_size)
    measured = evaluate_representation(AutoModel.from_pretrained(backbone).eval(), bank, held_out, "features")
    results = {result.metric_name: result.metric_value for result in card.data.eval_results}
    assert abs(measured["knn_accuracy"] - results["k-NN top-1 accuracy (frozen features)"]) <= 0.005
    assert abs(measured["linear_probe_accuracy"] - results["Linear-probe top-1 accuracy (frozen features)"]) <= 0.005
