"""Publishing to the Hub end to end, offline: the real `huggingface_hub` and `transformers` clients against the local
stand-in Hub of `tests/hub_server.py` on 127.0.0.1.

`huggingface_hub` reads `HF_ENDPOINT`, `HF_HUB_OFFLINE` and `HF_HOME` once, when it is imported, and this process
imported it long before any test (conftest imports `inductive_zoo`, hence transformers). So everything that loads
from the Hub (transformers' `from_pretrained`, `pipeline`, `snapshot_download`) runs in a fresh subprocess with those
variables set, as a user would. Publishing runs in this process through `publish(..., endpoint=hub.url)`: `HfApi`
takes its endpoint as an argument, and only `constants.HF_HUB_DISABLE_XET` is read at call time, so it is patched
(our server speaks the LFS protocol, not Xet). One test publishes through the CLI in a subprocess as well.
"""

import ast
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_config
from hub_server import FakeHub
from huggingface_hub import ModelCard, constants
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageClassification, ViTForImageClassification

from inductive_zoo import (
    VARIANTS,
    ConViTConfig,
    ConViTForImageClassification,
    IsoTransformerConfig,
    IsoTransformerForImageClassification,
)
from inductive_zoo.models.registry import manifest_for
from inductive_zoo.publishing import (
    MissingEvaluationError,
    NotTransformersNativeError,
    PublishError,
    publish,
    stage_repository,
)
from inductive_zoo.publishing.convert import convert
from inductive_zoo.publishing.remote_code import remote_code, write_remote_code
from inductive_zoo.training.image_classification import parse_args, run

TOKEN = "hf_zoo_write_token"
ORGANIZATION = "zoo-org"
REPO_ID = f"{ORGANIZATION}/iso-transformer-digits"
# Run by subprocesses that must not find our package: every import of it fails, as for a user without it.
BLOCK_PACKAGE = """
import importlib.abc, sys
class BlockInductiveZoo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "inductive_zoo":
            raise ModuleNotFoundError(f"{name} is blocked in this test")
sys.meta_path.insert(0, BlockInductiveZoo())
"""
# Prints, as the last line of output, the logits and the pipeline's top label of the example images for a model id.
PREDICT = """
import json, sys, torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline
repo_id, paths, kwargs = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
images = [Image.open(path) for path in paths]
model = AutoModelForImageClassification.from_pretrained(repo_id, **kwargs).eval()
processor = AutoImageProcessor.from_pretrained(repo_id)
with torch.no_grad():
    logits = model(**processor(images, return_tensors="pt")).logits
classifier = pipeline("image-classification", model=repo_id, device="cpu", **kwargs)
labels = [result[0]["label"] for result in classifier(images, top_k=1)]
print(json.dumps({"logits": logits.tolist(), "labels": labels, "class": type(model).__module__}))
"""
# The same for a user with our package: importing it registers the zoo's models with the Auto classes.
PREDICT_WITH_PACKAGE = "import inductive_zoo\n" + PREDICT


@pytest.fixture(scope="module")
def hub():
    with FakeHub({TOKEN: {ORGANIZATION}, "hf_other_token": {"other-org"}}) as server:
        yield server


@pytest.fixture(scope="module")
def no_xet():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny IsoTransformer trained for a few steps on the embedded digits by the recipe, evaluated."""
    output_dir = tmp_path_factory.mktemp("checkpoint") / "iso-digits"
    argv = [
        "--dataset", "digits", "--model_type", "iso_transformer", "--preset", "micro-patch4-32",
        "--config_overrides", "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64",
        "--output_dir", str(output_dir), "--do_train", "--do_eval", "--max_steps", "3",
        "--per_device_train_batch_size", "32", "--max_eval_samples", "50", "--report_to", "none",
        "--save_strategy", "no", "--eval_strategy", "no", "--dataloader_num_workers", "0", "--seed", "0",
    ]  # fmt: skip
    run(*parse_args(argv))
    return output_dir


@pytest.fixture(scope="module")
def published(hub, no_xet, checkpoint):
    return publish(checkpoint, REPO_ID, token=TOKEN, endpoint=hub.url, remote_code=True)


def client_env(hub: FakeHub, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a client subprocess: our Hub, no Xet, its own cache, our token."""
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(home),
        "HF_TOKEN": TOKEN,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **extra,
    }


def run_client(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def local_predictions(checkpoint: Path, paths: list[Path]) -> tuple[torch.Tensor, list[str]]:
    from transformers import AutoImageProcessor

    model = AutoModelForImageClassification.from_pretrained(checkpoint).eval()
    processor = AutoImageProcessor.from_pretrained(checkpoint)
    with torch.no_grad():
        logits = model(**processor([Image.open(path) for path in paths], return_tensors="pt")).logits
    return logits, [model.config.id2label[index] for index in logits.argmax(-1).tolist()]


def example_paths(hub: FakeHub, directory: Path) -> list[Path]:
    """The widget images of the published repository, written to `directory`."""
    paths = []
    for name, content in hub.files(REPO_ID).items():
        if name.startswith("examples/"):
            paths.append(directory / Path(name).name)
            paths[-1].write_bytes(content)
    return sorted(paths)


def test_published_repository_is_complete(hub, published, checkpoint) -> None:
    files = hub.files(REPO_ID)
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= set(files)
    assert files["model.safetensors"] == (checkpoint / "model.safetensors").read_bytes()
    _, stored = hub.state.repos[REPO_ID].commits[-1]
    assert stored["model.safetensors"].lfs and not stored["config.json"].lfs
    config = json.loads(files["config.json"])
    assert config["id2label"] == {str(digit): str(digit) for digit in range(10)}
    assert config["label2id"]["7"] == 7
    assert config["auto_map"]["AutoModelForImageClassification"] == (
        "modeling_iso_transformer.IsoTransformerForImageClassification"
    )
    for reference in config["auto_map"].values():
        assert f"{reference.split('.')[0]}.py" in files
    assert len([name for name in files if name.startswith("examples/")]) == 4
    assert published.changed and published.commit == hub.state.repos[REPO_ID].commits[-1][0]


def test_model_card_holds_the_evaluated_accuracy(hub, published, checkpoint) -> None:
    readme = hub.files(REPO_ID)["README.md"].decode()
    metadata = yaml.safe_load(readme.split("---\n")[1])
    evaluated = json.loads((checkpoint / "all_results.json").read_text())
    result = metadata["model-index"][0]["results"][0]
    accuracy = next(metric for metric in result["metrics"] if metric["type"] == "accuracy")
    assert accuracy["value"] == pytest.approx(evaluated["eval_accuracy"], abs=1e-6)
    assert result["dataset"]["split"] == "test"
    assert metadata["pipeline_tag"] == "image-classification"
    assert metadata["library_name"] == "transformers" and metadata["license"] == "apache-2.0"
    assert {"inductive-zoo", "iso_transformer", "custom_code"} <= set(metadata["tags"])
    assert metadata["metrics"] == ["accuracy", "top_5_accuracy"]
    for example in metadata["widget"]:
        assert example["src"].startswith(f"{hub.url}/{REPO_ID}/resolve/main/examples/")
        assert example["src"].split("/resolve/main/")[1] in hub.files(REPO_ID)
        # A custom-code model's widget carries the checkpoint's own top-5 (no provider would compute it).
        assert len(example["output"]) == 5 and {"label", "score"} == set(example["output"][0])
    card = ModelCard(readme)
    assert card.data.eval_results[0].metric_value == accuracy["value"]
    assert "trust_remote_code=True" in card.text and "Cazenavette" in card.text
    assert hub.state.counts["validated_cards"] >= 1
    # The command the run was given, without where it was written, repeats it.
    assert (
        "inductive-zoo train --dataset digits --model_type iso_transformer --preset micro-patch4-32 --config_overrides "
        "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64 --do_train --do_eval "
        "--max_steps 3 "
    ) in card.text and "--seed 0 --output_dir outputs/iso_transformer\n```" in card.text


def test_hub_loads_give_the_local_predictions(hub, published, checkpoint, tmp_path) -> None:
    paths = example_paths(hub, tmp_path)
    env = client_env(hub, tmp_path / "home")
    result = run_client(PREDICT_WITH_PACKAGE, env, REPO_ID, json.dumps(list(map(str, paths))), "{}")
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    logits, labels = local_predictions(checkpoint, paths)
    torch.testing.assert_close(torch.tensor(remote["logits"]), logits, rtol=0, atol=1e-5)
    assert remote["labels"] == labels
    assert remote["class"].startswith("inductive_zoo.")  # the package is importable here: no remote code needed


def test_trust_remote_code_loads_without_the_package(hub, published, checkpoint, tmp_path) -> None:
    paths = example_paths(hub, tmp_path)
    kwargs = json.dumps({"trust_remote_code": True})
    code = BLOCK_PACKAGE + PREDICT + "\nassert not any(name.startswith('inductive_zoo') for name in sys.modules)\n"
    result = run_client(code, client_env(hub, tmp_path / "home"), REPO_ID, json.dumps(list(map(str, paths))), kwargs)
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["class"].startswith("transformers_modules.")
    logits, labels = local_predictions(checkpoint, paths)
    torch.testing.assert_close(torch.tensor(remote["logits"]), logits, rtol=0, atol=1e-5)
    assert remote["labels"] == labels


def test_offline_load_from_a_snapshot_download_cache(hub, published, checkpoint, tmp_path) -> None:
    paths = example_paths(hub, tmp_path)
    home = tmp_path / "home"
    download = "import sys; from huggingface_hub import snapshot_download; print(snapshot_download(sys.argv[1]))"
    run_client(download, client_env(hub, home), REPO_ID)
    requests_before = len(hub.state.requests)
    offline = client_env(hub, home, HF_HUB_OFFLINE="1")
    result = run_client(PREDICT_WITH_PACKAGE, offline, REPO_ID, json.dumps(list(map(str, paths))), "{}")
    assert len(hub.state.requests) == requests_before  # nothing reached the Hub
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    torch.testing.assert_close(
        torch.tensor(remote["logits"]), local_predictions(checkpoint, paths)[0], rtol=0, atol=1e-5
    )


def test_republishing_an_unchanged_checkpoint_uploads_nothing(hub, published, checkpoint, tmp_path) -> None:
    commits, uploads = hub.commit_count(REPO_ID), hub.state.counts["lfs_uploads"]
    cli = [sys.executable, "-m", "inductive_zoo.cli", "publish", str(checkpoint), "--repo-id", REPO_ID, "--remote-code"]
    result = subprocess.run(cli, env=client_env(hub, tmp_path / "home"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "unchanged, nothing uploaded" in result.stdout
    assert (hub.commit_count(REPO_ID), hub.state.counts["lfs_uploads"]) == (commits, uploads)


def test_a_changed_card_is_one_commit_without_weight_upload(hub, no_xet, checkpoint, tmp_path) -> None:
    repo_id = f"{ORGANIZATION}/license-change"
    publish(checkpoint, repo_id, token=TOKEN, endpoint=hub.url)
    commits, uploads = hub.commit_count(repo_id), hub.state.counts["lfs_uploads"]
    result = publish(checkpoint, repo_id, token=TOKEN, endpoint=hub.url, license="mit")
    assert result.changed and hub.commit_count(repo_id) == commits + 1
    assert hub.state.counts["lfs_uploads"] == uploads
    assert "license: mit" in hub.files(repo_id)["README.md"].decode()
    assert not any(name.endswith(".py") for name in hub.files(repo_id))  # no remote code unless asked


def test_a_staged_repository_is_uploaded_as_it_is_with_its_widget_urls_moved(hub, no_xet, checkpoint, tmp_path) -> None:
    staged = tmp_path / "zoo" / "iso-digits"
    staged.mkdir(parents=True)
    stage_repository(
        checkpoint, staged, "inductive-zoo/iso-digits", endpoint="https://huggingface.co", remote_code=True
    )
    repo_id = f"{ORGANIZATION}/from-staged"
    result = publish(staged, repo_id, token=TOKEN, endpoint=hub.url)
    files = hub.files(repo_id)
    assert (
        sorted(set(files) - {".gitattributes"})
        == sorted(result.files)
        == sorted(path.relative_to(staged).as_posix() for path in staged.rglob("*") if path.is_file())
    )
    card, original = files["README.md"].decode(), (staged / "README.md").read_text()
    assert "huggingface.co/inductive-zoo/iso-digits/resolve" in original
    assert "inductive-zoo/iso-digits/resolve" not in card
    assert f"{hub.url}/{repo_id}/resolve/main/examples/" in card
    assert files["model.safetensors"] == (staged / "model.safetensors").read_bytes()
    assert card.replace(f"{hub.url}/{repo_id}", "X") == original.replace(
        "https://huggingface.co/inductive-zoo/iso-digits", "X"
    )


def test_a_wrong_token_is_a_clear_error(hub, no_xet, checkpoint) -> None:
    with pytest.raises(PublishError, match=r"rejected the token \(401"):
        publish(checkpoint, f"{ORGANIZATION}/wrong-token", token="hf_not_a_token", endpoint=hub.url)
    with pytest.raises(PublishError, match="may not write to other-org"):
        publish(checkpoint, "other-org/not-ours", token=TOKEN, endpoint=hub.url)


def test_loading_a_missing_repository_is_a_clear_error(hub, tmp_path) -> None:
    code = """
    import sys
    from transformers import AutoModelForImageClassification
    try:
        AutoModelForImageClassification.from_pretrained(sys.argv[1])
    except OSError as error:
        print(error)
    """
    result = run_client(code, client_env(hub, tmp_path / "home"), f"{ORGANIZATION}/does-not-exist")
    assert f"{ORGANIZATION}/does-not-exist is not a local folder and is not a valid model identifier" in result.stdout


def test_publishing_needs_evaluation_results(checkpoint, tmp_path) -> None:
    unevaluated = tmp_path / "unevaluated"
    shutil.copytree(checkpoint, unevaluated, ignore=shutil.ignore_patterns("*results.json"))
    with pytest.raises(MissingEvaluationError, match="--allow-unevaluated"):
        stage_repository(unevaluated, tmp_path / "staged", REPO_ID, endpoint="http://hub")
    (tmp_path / "staged").mkdir()
    files = stage_repository(unevaluated, tmp_path / "staged", REPO_ID, endpoint="http://hub", allow_unevaluated=True)
    assert "README.md" in files
    metadata = yaml.safe_load((tmp_path / "staged" / "README.md").read_text().split("---\n")[1])
    assert "model-index" not in metadata


def test_staging_again_replaces_the_staged_folder_whole(checkpoint, tmp_path) -> None:
    # How a released zoo/ folder is regenerated (a new card): a second --staging-dir run into it.
    from inductive_zoo.publishing.publish import main as publish_main

    staged = tmp_path / "zoo" / "iso-digits"
    arguments = [str(checkpoint), "--staging-dir", str(staged), "--repo-id", REPO_ID]
    first = publish_main(arguments)
    (staged / "stale.txt").write_text("left from an earlier release")
    assert publish_main(arguments) == first
    assert sorted(path.relative_to(staged).as_posix() for path in staged.rglob("*") if path.is_file()) == first
    assert [path.name for path in staged.parent.iterdir()] == ["iso-digits"]  # no staging folder left beside it


def test_a_fine_tuned_checkpoints_card_names_its_start(checkpoint, tmp_path) -> None:
    fine_tuned = tmp_path / "fine-tuned"
    shutil.copytree(checkpoint, fine_tuned)
    summary = json.loads((fine_tuned / "training_summary.json").read_text())
    assert summary["initialized_from"] is None  # the fixture's model was trained from scratch
    (fine_tuned / "training_summary.json").write_text(json.dumps({**summary, "initialized_from": "org/pretrained"}))
    for directory, expected in ((checkpoint, "Trained from scratch"), (fine_tuned, "Fine-tuned from the checkpoint")):
        staged = tmp_path / "staged" / directory.name
        staged.mkdir(parents=True)
        stage_repository(directory, staged, REPO_ID, endpoint="http://hub")
        card = (staged / "README.md").read_text()
        assert expected in card
        assert ModelCard(card).data.base_model == (None if directory == checkpoint else "org/pretrained")
    assert "`org/pretrained`" in card


def test_a_checkpoint_fine_tuned_from_a_local_start_links_its_release_only_when_named(
    checkpoint, tmp_path, caplog
) -> None:
    local_start = tmp_path / "pretrained"
    local_start.mkdir()
    fine_tuned = tmp_path / "fine-tuned"
    shutil.copytree(checkpoint, fine_tuned)
    summary = json.loads((fine_tuned / "training_summary.json").read_text())
    (fine_tuned / "training_summary.json").write_text(json.dumps({**summary, "initialized_from": str(local_start)}))
    for base_model_id in (None, "org/backbone"):
        staged = tmp_path / "staged" / str(base_model_id).replace("/", "-")
        staged.mkdir(parents=True)
        with caplog.at_level(logging.WARNING, logger="inductive_zoo.publishing.publish"):
            caplog.clear()
            stage_repository(fine_tuned, staged, REPO_ID, endpoint="http://hub", base_model_id=base_model_id)
        assert ModelCard.load(staged / "README.md").data.base_model == base_model_id
        assert ("pass --base-model-id" in caplog.text) == (base_model_id is None)


def test_a_distilled_checkpoints_card_names_its_teacher_and_the_release_table_adds_the_teachers_time(
    checkpoint, tmp_path
) -> None:
    from inductive_zoo.studies.release_table import read_release, release_table

    distilled = tmp_path / "distilled"
    shutil.copytree(checkpoint, distilled)
    summary = json.loads((distilled / "training_summary.json").read_text())
    teacher = {
        "teacher": "outputs/teacher", "kind": "soft", "alpha": 0.9, "temperature": 4.0,
        "teacher_model_type": "fast_convnet", "teacher_training_time_s": 600.0, "unlabelled_images": 45000,
    }  # fmt: skip
    recipe = "cifar10-10pct-fast-prs-vit"  # a recipe run's card has the command the release table reads
    (distilled / "training_summary.json").write_text(
        json.dumps({**summary, "distillation": teacher, "recipe_name": recipe, "command": ["--recipe", recipe]})
    )
    staged = tmp_path / "staged"
    staged.mkdir()
    stage_repository(distilled, staged, REPO_ID, endpoint="http://hub")
    card = (staged / "README.md").read_text()
    assert "Distilled from the classifier `outputs/teacher` (a `fast_convnet`)" in card
    assert "soft distillation, alpha 0.9, temperature 4.0" in card
    assert "The teacher's own training took 600 s more." in card
    assert "the only target of 45000 more training images of" in card
    assert "whose labels were not used (`--unlabelled_images`: semi-supervised distillation)" in card
    release = read_release(staged)
    assert release.teacher_training_time_s == 600
    assert f"{release.training_time_s / 60:.0f} min + 10 min (teacher)" in release_table([release])


def test_a_run_on_a_local_directory_is_published_with_a_warning_unless_its_hub_id_is_given(
    checkpoint, tmp_path, caplog
) -> None:
    local = tmp_path / "local"
    shutil.copytree(checkpoint, local)
    summary = json.loads((local / "training_summary.json").read_text())
    (local / "training_summary.json").write_text(json.dumps({**summary, "dataset": str(tmp_path)}))
    for dataset_id, warned in ((None, True), ("org/data", False)):
        caplog.clear()
        staged = tmp_path / f"staged-{warned}"
        staged.mkdir()
        image = Path(__file__).parents[1] / "zoo" / "prs-vit-cifar10-10pct" / "examples" / "cat.png"
        stage_repository(local, staged, REPO_ID, endpoint="http://hub", dataset_id=dataset_id, example_images=[image])
        assert ("was trained on the local directory" in caplog.text) is warned
        assert ("datasets:\n- org/data" in (staged / "README.md").read_text()) is not warned


def save_model(model, directory: Path) -> Path:
    model.save_pretrained(directory)
    return directory


def test_as_transformers_native_exports_an_identical_vit(tmp_path) -> None:
    torch.manual_seed(0)
    config = IsoTransformerConfig(
        image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    config.id2label, config.label2id = {0: "cat", 1: "dog"}, {"cat": 0, "dog": 1}
    model = IsoTransformerForImageClassification(config).eval()
    with torch.no_grad():  # away from the initialisation, so that a misplaced weight shows
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    staged = tmp_path / "staged"
    staged.mkdir()
    stage_repository(
        save_model(model, tmp_path / "iso"),
        staged,
        "zoo-org/vit",
        endpoint="http://hub",
        allow_unevaluated=True,
        as_transformers_native=True,
    )
    assert json.loads((staged / "config.json").read_text())["architectures"] == ["ViTForImageClassification"]
    vit = ViTForImageClassification.from_pretrained(staged).eval()
    pixel_values = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        expected, actual = model(pixel_values).logits, vit(pixel_values).logits
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)
    assert vit.config.id2label == {0: "cat", 1: "dog"}
    assert "It needs nothing beyond `transformers`" in (staged / "README.md").read_text()


@pytest.mark.parametrize(("field", "value"), [("pooling", "mean"), ("position_embedding", "sincos")])
def test_as_transformers_native_refuses_a_non_vit(tmp_path, field: str, value: str) -> None:
    config = IsoTransformerConfig(
        image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64
    )
    setattr(config, field, value)
    checkpoint = save_model(IsoTransformerForImageClassification(config), tmp_path / "iso")
    (tmp_path / "staged").mkdir()
    with pytest.raises(NotTransformersNativeError, match=f"{field}='{value}'"):
        stage_repository(
            checkpoint,
            tmp_path / "staged",
            "zoo-org/x",
            endpoint="http://hub",
            allow_unevaluated=True,
            as_transformers_native=True,
        )


@pytest.mark.parametrize("config_class", [config_class for config_class, _, _ in VARIANTS], ids=lambda c: c.__name__)
def test_remote_code_is_two_closed_files(config_class) -> None:
    code = remote_code(tiny_config(config_class))
    configuration, modeling = f"configuration_{config_class.model_type}", f"modeling_{config_class.model_type}"
    assert set(code.files) == {f"{configuration}.py", f"{modeling}.py"}
    for name, source in code.files.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                assert not any(alias.name.startswith("inductive_zoo") for alias in node.names), name
            elif isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("inductive_zoo"), name
                assert node.level == 0 or (name == f"{modeling}.py" and node.module == configuration), name
    assert code.auto_map == {
        "AutoConfig": f"{configuration}.{config_class.__name__}",
        "AutoModel": f"{modeling}.{manifest_for(config_class).model_class.__name__}",
        "AutoModelForImageClassification": f"{modeling}."
        f"{manifest_for(config_class).image_classification_class.__name__}",
    }


def test_convert_vit_writes_a_ready_to_publish_folder(tmp_path) -> None:
    from transformers import ViTConfig

    vit = ViTForImageClassification(
        ViTConfig(image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, num_labels=3)
    )
    source = save_model(vit, tmp_path / "vit")
    output = convert("vit", str(source), tmp_path / "converted")
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", "conversion.json"} <= {
        path.name for path in output.iterdir()
    }
    assert "Converted with `inductive-zoo convert vit`" in (output / "README.md").read_text()
    staged = tmp_path / "staged"
    staged.mkdir()
    stage_repository(output, staged, "zoo-org/converted", endpoint="http://hub", allow_unevaluated=True)
    card = (staged / "README.md").read_text()
    assert "zoo-org/converted" in card and "Converted with `inductive-zoo convert vit`" in card
    assert load_file(staged / "model.safetensors").keys() == load_file(output / "model.safetensors").keys()


@pytest.mark.slow
def test_release_publishes_every_variant_and_resumes(hub, no_xet, tmp_path) -> None:
    from inductive_zoo import VARIANTS
    from inductive_zoo.publishing.release import release

    state = release("zoo-org", "digits", tmp_path / "release", budget="small", token=TOKEN, endpoint=hub.url)
    assert set(state) == {config_class.model_type for config_class, _, _ in VARIANTS}
    native = json.loads(hub.files(state["iso_transformer"]["repo_id"])["config.json"])
    assert native["model_type"] == "vit"
    for model_type, entry in state.items():
        readme = hub.files(entry["repo_id"])["README.md"].decode()
        assert "model-index" in readme, model_type
        if model_type != "iso_transformer":
            assert "auto_map" in json.loads(hub.files(entry["repo_id"])["config.json"]), model_type
            assert (Path(entry["space_dir"]) / "app.py").is_file(), model_type
    commits = hub.state.counts["commits"]
    assert release("zoo-org", "digits", tmp_path / "release", budget="small", token=TOKEN, endpoint=hub.url) == state
    assert hub.state.counts["commits"] == commits


def test_a_convit_bundle_holds_only_what_convit_imports_and_loads_without_the_package(tmp_path) -> None:
    torch.manual_seed(0)
    model = ConViTForImageClassification(
        ConViTConfig(image_size=16, patch_size=4, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                     num_hidden_layers=2, local_up_to_layer=1, num_labels=3)
    ).eval()  # fmt: skip
    model.save_pretrained(tmp_path)
    auto_map = write_remote_code(model.config, tmp_path)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "auto_map": auto_map}))
    assert {path.name for path in tmp_path.glob("*.py")} == {"configuration_convit.py", "modeling_convit.py"}
    modeling = (tmp_path / "modeling_convit.py").read_text()
    # Only the mixers ConViT names (GPSA, self-attention), no other variant's, no objective, no training code.
    assert "class GatedPositionalSelfAttention" in modeling and "class MultiHeadSelfAttention" in modeling
    foreign = [
        "class CADA", "class TokenMixingMLP", "class DepthwiseConvMixer", "class LearnedMasked",
        "class ConViTForMaskedImageModeling", "class MaskedImageModelingMixin", "import Trainer",
    ]  # fmt: skip
    assert [text for text in foreign if text in modeling] == []
    pixels = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.save(pixels, tmp_path / "pixels.pt")
    code = (
        BLOCK_PACKAGE
        + """
import torch
from transformers import AutoModelForImageClassification
model = AutoModelForImageClassification.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
assert not any(name.startswith("inductive_zoo") for name in sys.modules)
with torch.no_grad():
    torch.save(model(torch.load(sys.argv[1] + "/pixels.pt")).logits, sys.argv[1] + "/remote_logits.pt")
"""
    )
    run_client(code, {**os.environ, "HF_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}, str(tmp_path))
    with torch.no_grad():
        expected = model(pixels).logits
    torch.testing.assert_close(torch.load(tmp_path / "remote_logits.pt"), expected, rtol=0, atol=1e-6)
