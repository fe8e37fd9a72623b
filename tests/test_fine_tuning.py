"""Fine-tuning on your own images: a checkpoint moved to another image size keeps what it learned, the command line
applies each model argument or refuses it by name, the output folder travels without the package, and data with
plain string labels or broken files gets a clear path or message."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIG_CLASSES, is_token_model, tiny_config
from datasets import Dataset, Features, Image, Value
from PIL import Image as PILImage
from sklearn.datasets import load_digits
from test_publishing import BLOCK_PACKAGE
from transformers import AutoImageProcessor, AutoModelForImageClassification

from inductive_zoo import IBiTConfig, IsoMixerConfig, PRSViTConfig
from inductive_zoo.cli import main as cli_main
from inductive_zoo.data import load_image_dataset
from inductive_zoo.data.decoding import CorruptImageError, DecodedImageDataset
from inductive_zoo.data.processing import image_processor_for
from inductive_zoo.models.registry import manifest_for
from inductive_zoo.publishing.remote_code import remote_code
from inductive_zoo.training.image_classification import parse_args

FINE_TUNING = [
    "--do_train", "--do_eval", "--max_steps", "2", "--per_device_train_batch_size", "16", "--learning_rate", "1e-5",
    "--max_eval_samples", "20", "--report_to", "none", "--save_strategy", "no", "--eval_strategy", "no",
    "--dataloader_num_workers", "0", "--seed", "0", "--hflip_prob", "0.0", "--precision", "fp32",
]  # fmt: skip


def classifier(config_class, **overrides):
    manifest = manifest_for(config_class)
    torch.manual_seed(0)
    return manifest.image_classification_class(tiny_config(config_class, **overrides)).eval()


def smooth_position_embedding(model) -> None:
    """Sets a learned position embedding to a smooth function of the patch position, as training leaves it (a
    random table has no structure for any resampling to keep)."""
    embedding = model.backbone.embeddings.position_embedding
    grid_h, grid_w = embedding.grid_size
    y, x = torch.meshgrid(torch.linspace(0, 1, grid_h), torch.linspace(0, 1, grid_w), indexing="ij")
    channels = torch.arange(embedding.hidden_size, dtype=torch.float32)
    table = torch.sin(y.reshape(-1, 1) * (1 + channels % 2) + x.reshape(-1, 1) * (channels % 3) / 2 + channels)
    with torch.no_grad():
        embedding.weight[0, embedding.num_prefix_tokens :] = table


def downsampled_patch_embedding(weight: torch.Tensor, prefix: int, grid: int) -> torch.Tensor:
    patches = weight[:, prefix:]
    side = int(patches.shape[1] ** 0.5)
    maps = patches.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    maps = torch.nn.functional.interpolate(maps, size=(grid, grid), mode="bicubic", align_corners=False)
    return maps.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_from_pretrained_at_its_own_image_size_gives_the_same_logits(config_class, tmp_path):
    model = classifier(config_class)
    model.save_pretrained(tmp_path)
    size = model.config.image_size
    pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    same = AutoModelForImageClassification.from_pretrained(tmp_path, image_size=size).eval()
    with torch.no_grad():
        assert torch.equal(same(pixels).logits, model(pixels).logits)


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_from_pretrained_at_twice_the_size_keeps_what_was_learned(config_class, tmp_path):
    model = classifier(config_class)
    if config_class is IsoMixerConfig:
        pytest.skip("IsoMixer cannot change size (tested below)")
    has_learned_positions = is_token_model(config_class) and model.config.position_embedding == "learned"
    if has_learned_positions:
        smooth_position_embedding(model)
    model.save_pretrained(tmp_path)
    size = model.config.image_size
    moved = AutoModelForImageClassification.from_pretrained(tmp_path, image_size=2 * size).eval()
    assert moved.config.image_size == 2 * size
    with torch.no_grad():
        assert moved(torch.randn(2, 3, 2 * size, 2 * size)).logits.shape == (2, model.config.num_labels)
    if has_learned_positions:
        embeddings = model.backbone.embeddings
        trained = embeddings.position_embedding.weight
        prefix, grid = embeddings.num_prefix_tokens, size // model.config.patch_size
        back = downsampled_patch_embedding(moved.backbone.embeddings.position_embedding.weight, prefix, grid)
        assert torch.allclose(back, trained[:, prefix:], atol=0.02)
        assert torch.equal(moved.backbone.embeddings.position_embedding.weight[:, :prefix], trained[:, :prefix])
    same_weights = {
        name: parameter
        for name, parameter in moved.named_parameters()
        if "position_embedding" not in name and "mask_" not in name
    }
    original = dict(model.named_parameters())
    assert all(torch.equal(parameter, original[name]) for name, parameter in same_weights.items())


def test_ibit_masks_move_to_another_grid_and_back(tmp_path):
    model = classifier(IBiTConfig)
    layer = model.backbone.layers[0].token_mixer
    before = layer.mask().detach().clone()
    size = model.config.image_size
    model.set_image_size(2 * size)
    assert layer.mask().shape[-1] == 4 * (before.shape[-1] - 1) + 1
    model.set_image_size(size)
    after = layer.mask().detach()
    correlation = torch.corrcoef(torch.stack([before.flatten(), after.flatten()]))[0, 1]
    assert correlation > 0.98


def test_isomixer_refuses_another_size_and_is_left_unchanged(tmp_path):
    model = classifier(IsoMixerConfig)
    with pytest.raises(ValueError, match="IsoMixer's token-mixing MLP has one weight per token position"):
        model.set_image_size(2 * model.config.image_size)
    grid = model.config.image_size // model.config.patch_size
    assert model.backbone.embeddings.position_embedding.grid_size == (grid, grid)
    assert model.backbone.embeddings.image_size == model.config.image_size == tiny_config(IsoMixerConfig).image_size


def test_an_image_size_the_patches_do_not_divide_is_refused_by_name():
    model = classifier(PRSViTConfig)
    with pytest.raises(ValueError, match="image_size"):
        model.set_image_size(model.config.image_size + 1)


def test_raw_uint8_pixels_and_channels_last_batches_are_refused_with_what_to_do():
    model = classifier(PRSViTConfig)
    size = model.config.image_size
    with pytest.raises(ValueError, match=r"torch.uint8 tensor \(raw 0-255 pixels\?\).*image processor"):
        model(torch.randint(0, 255, (2, 3, size, size), dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"looks channels-last.*permute\(0, 3, 1, 2\)"):
        model(torch.randn(2, size, size, 3))


# --- the command line on your own image folder ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory) -> Path:
    """300 of scikit-learn's digits as 64x64 PNGs in class folders (`train/<digit>/*.png`, `test/<digit>/*.png`)."""
    root = tmp_path_factory.mktemp("digits64")
    digits = load_digits()
    for index in range(300):
        split = "test" if index % 5 == 0 else "train"
        folder = root / split / str(digits.target[index])
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (digits.images[index] / 16.0 * 255.0).astype(np.uint8)
        PILImage.fromarray(pixels, mode="L").resize((64, 64), PILImage.BILINEAR).save(folder / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def trained_prs_vit(tmp_path_factory) -> Path:
    """A tiny PRS-ViT saved at 32 px with its processor and a smooth learned position embedding."""
    directory = tmp_path_factory.mktemp("prs-vit-32")
    model = classifier(PRSViTConfig, image_size=32, patch_size=4, num_labels=10)
    smooth_position_embedding(model)
    model.save_pretrained(directory)
    image_processor_for(32).save_pretrained(directory)
    return directory


def test_fine_tuning_at_64_px_through_the_cli_keeps_the_position_embeddings_and_travels(
    trained_prs_vit, digits_folder, tmp_path
):
    output_dir = tmp_path / "prs-vit-64"
    cli_main([
        "train", "--model_name_or_path", str(trained_prs_vit), "--image_size", "64", "--dataset", str(digits_folder),
        "--output_dir", str(output_dir), *FINE_TUNING,
    ])  # fmt: skip
    config = json.loads((output_dir / "config.json").read_text())
    assert config["image_size"] == 64
    size = AutoImageProcessor.from_pretrained(output_dir).size
    assert (size.height, size.width) == (64, 64)
    summary = json.loads((output_dir / "training_summary.json").read_text())
    assert summary["config_overrides"] == "image_size=64"
    assert summary["initialized_from"] == str(trained_prs_vit)

    trained = AutoModelForImageClassification.from_pretrained(trained_prs_vit)
    tuned = AutoModelForImageClassification.from_pretrained(output_dir)
    prefix = trained.backbone.embeddings.num_prefix_tokens
    back = downsampled_patch_embedding(tuned.backbone.embeddings.position_embedding.weight, prefix, 8)
    trained_patches = trained.backbone.embeddings.position_embedding.weight[:, prefix:]
    assert torch.allclose(back, trained_patches, atol=0.02)

    # The folder loads where inductive_zoo cannot be imported, and predicts as the package does.
    image = sorted((digits_folder / "test").rglob("*.png"))[0]
    script = BLOCK_PACKAGE + (
        "import json, sys, torch\nfrom PIL import Image\n"
        "from transformers import AutoImageProcessor, AutoModelForImageClassification\n"
        "model = AutoModelForImageClassification.from_pretrained(sys.argv[1], trust_remote_code=True).eval()\n"
        "inputs = AutoImageProcessor.from_pretrained(sys.argv[1])(Image.open(sys.argv[2]), return_tensors='pt')\n"
        "print(json.dumps(model(**inputs).logits.tolist()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(output_dir), str(image)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote_logits = torch.tensor(json.loads(result.stdout.strip().splitlines()[-1]))
    processor = AutoImageProcessor.from_pretrained(output_dir)
    with torch.no_grad():
        local_logits = tuned.eval()(**processor(PILImage.open(image), return_tensors="pt")).logits
    assert torch.allclose(remote_logits, local_logits, atol=1e-5)


def test_a_checkpoint_takes_dropout_and_stochastic_depth_and_records_them(trained_prs_vit, digits_folder, tmp_path):
    output_dir = tmp_path / "tuned"
    width = json.loads((trained_prs_vit / "config.json").read_text())["hidden_size"]
    cli_main([
        "train", "--model_name_or_path", str(trained_prs_vit), "--dataset", str(digits_folder),
        "--config_overrides", f"drop_path_rate=0.1,hidden_size={width}", "--output_dir", str(output_dir),
        *FINE_TUNING,
    ])  # fmt: skip
    assert json.loads((output_dir / "config.json").read_text())["drop_path_rate"] == 0.1
    summary = json.loads((output_dir / "training_summary.json").read_text())
    assert summary["config_overrides"] == "drop_path_rate=0.1"  # the width is the checkpoint's own


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--config_overrides", "hidden_size=64"], r"cannot change \['hidden_size'\].*drop_path_rate"),
        (["--config_overrides", "drop_path_rat=0.1"], "has no field 'drop_path_rat'; did you mean 'drop_path_rate'"),
        (["--preset", "tiny-patch4-32"], "--preset tiny-patch4-32 builds a fresh model"),
    ],
)
def test_what_a_checkpoint_cannot_take_is_refused_by_name(trained_prs_vit, digits_folder, tmp_path, arguments, message):
    argv = ["--model_name_or_path", str(trained_prs_vit), "--dataset", str(digits_folder), *arguments]
    with pytest.raises(ValueError, match=message):
        cli_main(["train", *argv, "--output_dir", str(tmp_path / "out"), *FINE_TUNING])


def test_a_misspelt_field_on_a_fresh_model_is_refused_with_the_closest_name(tmp_path):
    argv = ["--model_type", "prs_vit", "--config_overrides", "drop_path_rat=0.1", "--output_dir", str(tmp_path)]
    with pytest.raises(ValueError, match="PRSViTConfig has no field 'drop_path_rat'; did you mean 'drop_path_rate'"):
        cli_main(["train", *argv, *FINE_TUNING])


def test_an_isomixer_checkpoint_refuses_another_image_size(digits_folder, tmp_path):
    checkpoint = tmp_path / "mixer"
    classifier(IsoMixerConfig, num_labels=10).save_pretrained(checkpoint)
    image_processor_for(16).save_pretrained(checkpoint)
    argv = ["--model_name_or_path", str(checkpoint), "--image_size", "32", "--dataset", str(digits_folder)]
    with pytest.raises(ValueError, match="IsoMixer's token-mixing MLP"):
        cli_main(["train", *argv, "--output_dir", str(tmp_path / "out"), *FINE_TUNING])


def test_a_recipe_fine_tunes_a_checkpoint_without_its_fresh_model_arguments(trained_prs_vit):
    model_args, _, _ = parse_args(["--recipe", "cifar10-10pct-fast-prs-vit", "--model_name_or_path", "x"])
    assert model_args.preset is None
    assert model_args.config_overrides is None
    assert not model_args.whitening_init


# --- your own data --------------------------------------------------------------------------------------------------


def image_rows(labels: list) -> Dataset:
    images = [PILImage.new("RGB", (40, 24), (index * 20, 0, 0)) for index in range(len(labels))]
    features = Features({"image": Image(), "label": Value("string" if isinstance(labels[0], str) else "int64")})
    return Dataset.from_dict({"image": images, "label": labels}, features=features)


@pytest.mark.parametrize(
    ("train_labels", "test_labels", "names"),
    [
        (["cat", "dog", "ant", "cat"], ["zebra", "dog"], ["ant", "cat", "dog", "zebra"]),
        ([3, 10, 2, 3], [10, 2], ["2", "3", "10"]),
    ],
)
def test_string_or_integer_labels_become_one_sorted_set_of_class_labels(
    tmp_path, train_labels, test_labels, names, caplog
):
    image_rows(train_labels).to_parquet(tmp_path / "train.parquet")
    image_rows(test_labels).to_parquet(tmp_path / "test.parquet")
    data = load_image_dataset(str(tmp_path))
    assert data.label_names == names
    decoded = [names[index] for index in data.splits["test"]["label"]]
    assert decoded == [str(label) for label in test_labels]
    assert "cast to" in caplog.text


def test_a_corrupt_image_in_a_folder_names_its_file(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / "train" / name).mkdir(parents=True)
        PILImage.new("RGB", (8, 8)).save(tmp_path / "train" / name / "good.png")
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"not an image")
    data = load_image_dataset(str(tmp_path))
    datasets = [
        DecodedImageDataset(split, name, data.image_column, data.label_column, 8) for name, split in data.splits.items()
    ]
    with pytest.raises(CorruptImageError, match=r"cat/broken\.png"):
        for dataset in datasets:
            dataset.__getitems__(list(range(len(dataset))))


def test_a_truncated_weights_file_is_named(tmp_path):
    classifier(PRSViTConfig).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(OSError, match=rf"{tmp_path}: its weights file \(model.safetensors\) cannot be read.*truncated"):
        AutoModelForImageClassification.from_pretrained(tmp_path)


def test_remote_code_on_transformers_4_says_that_it_needs_5(monkeypatch):
    import transformers

    source = remote_code(tiny_config(PRSViTConfig)).files["configuration_prs_vit.py"]
    monkeypatch.setattr(transformers, "__version__", "4.57.6")
    with pytest.raises(ImportError, match=r"needs transformers >= 5, found 4.57.6: pip install --upgrade"):
        exec(compile(source, "configuration_prs_vit.py", "exec"), {})


def test_the_readme_s_plain_trainer_example_runs(digits_folder, tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("With plain `Trainer`:\n\n```python\n")[1].split("```")[0]
    zoo = Path(__file__).resolve().parents[1] / "zoo"
    example = (
        example.replace('"zoo/', f'"{zoo}/')
        .replace("path/to/folder", str(digits_folder))
        .replace("outputs/my-model", str(tmp_path / "my-model"))
        .replace("num_train_epochs=3", "max_steps=2, report_to='none'")
    )
    exec(compile(example, "README.md", "exec"), {})
    assert json.loads((tmp_path / "my-model" / "config.json").read_text())["image_size"] == 64
    assert (tmp_path / "my-model" / "modeling_prs_vit.py").is_file()


def test_train_help_is_the_recipe_s_own_arguments_and_help_all_adds_training_arguments(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "--help"])
    short = capsys.readouterr().out
    assert short.startswith("usage: inductive-zoo train")
    assert "--image_size" in short and "--lr_scheduler_type" not in short and "--help-all" in short
    with pytest.raises(SystemExit):
        cli_main(["train", "--help-all"])
    assert "--lr_scheduler_type" in capsys.readouterr().out
