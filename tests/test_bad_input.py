"""Bad input gives a clear error, never a wrong answer: property-based tests (hypothesis) over configs, pixel values,
labels, checkpoints and dataset images of every variant."""

import dataclasses
import io
import math

import numpy as np
import PIL.Image
import pytest
import torch
from conftest import CONFIG_CLASSES, is_token_model, tiny_config
from datasets import Dataset, Features, Image, Value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from transformers import AutoModelForImageClassification, PreTrainedConfig

import inductive_zoo
from inductive_zoo.data.decoding import CorruptImageError, DecodedImageDataset
from inductive_zoo.models.loading import CheckpointMismatchError

CLASSIFIERS = {config_class.model_type: classifier for config_class, _, classifier in inductive_zoo.VARIANTS}
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def classifier_of(config_class, **overrides):
    torch.manual_seed(0)
    return CLASSIFIERS[config_class.model_type](tiny_config(config_class, **overrides)).eval()


TRANSFORMERS_FIELDS = {field.name for field in dataclasses.fields(PreTrainedConfig)}


def scalar_fields(config_class) -> list[str]:
    """The zoo's own scalar config fields (typed by `typed_config`: int, float or int, str, bool)."""
    return sorted(
        field.name
        for field in dataclasses.fields(config_class)
        if field.name not in TRANSFORMERS_FIELDS and field.type in (int, float | int, str, bool)
    )


ANY_VALUE = st.one_of(
    st.integers(-3, 40),
    st.floats(-2.0, 2.0),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e-12, 0.5, 1.0, 3.0]),
    st.booleans(),
    st.none(),
    st.sampled_from(["", "mean", "cls", "gelu", "relu", "false", "3", "linear", "block", "l1", "sincos"]),
)


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_a_config_either_raises_value_error_naming_the_field_or_gives_a_working_model(config_class, data):
    field = data.draw(st.sampled_from(scalar_fields(config_class)), label="field")
    value = data.draw(ANY_VALUE, label="value")
    try:
        config = tiny_config(config_class, **{field: value})
    except ValueError as error:
        assert field in str(error), (field, value, str(error))
        return
    model = CLASSIFIERS[config_class.model_type](config).eval()
    size = config.image_size
    with torch.no_grad():
        logits = model(torch.randn(2, config.num_channels, size, size)).logits
    assert logits.shape == (2, config.num_labels)
    assert torch.isfinite(logits).all(), (field, value)


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
@PROPERTY_SETTINGS
@given(
    batch=st.integers(0, 3),
    channels=st.integers(1, 5),
    bad_value=st.sampled_from([None, math.nan, math.inf, -math.inf]),
    position=st.integers(0, 10_000),
)
def test_bad_pixel_values_raise_a_clear_value_error(config_class, batch, channels, bad_value, position):
    model = classifier_of(config_class)
    size = model.config.image_size
    pixel_values = torch.randn(batch, channels, size, size)
    if bad_value is not None and pixel_values.numel():
        pixel_values.view(-1)[position % pixel_values.numel()] = bad_value
    if batch == 0:
        expected = "empty batch"
    elif channels != 3:
        expected = f"has {channels} channels but the model expects config.num_channels=3"
    elif bad_value is not None:
        expected = "NaN or infinite values"
    else:
        assert torch.isfinite(model(pixel_values).logits).all()
        return
    with pytest.raises(ValueError, match=expected):
        model(pixel_values)


@pytest.mark.parametrize("config_class", [c for c in CONFIG_CLASSES if is_token_model(c.values[0])])
@PROPERTY_SETTINGS
@given(size=st.sampled_from([8, 12, 20, 24, 32]))
def test_another_image_size_without_interpolation_is_refused(config_class, size):
    model = classifier_of(config_class)
    with pytest.raises(ValueError, match=f"input image size {size}x{size} does not match the model's 16x16"):
        model(torch.randn(1, 3, size, size))


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
@PROPERTY_SETTINGS
@given(labels=st.lists(st.integers(-3, 8), min_size=1, max_size=4))
def test_label_ids_outside_num_labels_are_refused(config_class, labels):
    model = classifier_of(config_class)  # num_labels = 5
    pixel_values = torch.randn(len(labels), 3, 16, 16)
    if all(0 <= label < 5 for label in labels):
        assert torch.isfinite(model(pixel_values, labels=torch.tensor(labels)).loss)
        return
    with pytest.raises(ValueError, match=r"label ids must be in \[0, 5\) \(config.num_labels\)"):
        model(pixel_values, labels=torch.tensor(labels))


def png_bytes(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 6),
    bad_row=st.integers(0, 5),
    damage=st.sampled_from(["truncate", "garbage", "empty"]),
    keep=st.floats(0.0, 0.9),
)
def test_a_corrupt_or_truncated_image_raises_an_error_naming_its_row(rows, bad_row, damage, keep):
    bad_row %= rows
    images = [png_bytes(index) for index in range(rows)]
    good = images[bad_row]
    images[bad_row] = {
        "truncate": good[: int(len(good) * keep)],
        "garbage": bytes(range(256))[: 8 + int(200 * keep)],
        "empty": b"",
    }[damage]
    features = Features({"img": Image(), "label": Value("int64")})
    table = Dataset.from_dict(
        {"img": [{"bytes": image, "path": None} for image in images], "label": [0] * rows}, features=features
    )
    dataset = DecodedImageDataset(table, "train", "img", "label", 8)
    for index in range(rows):
        if index != bad_row:
            assert dataset[index]["image"].shape == (3, 8, 8)
    with pytest.raises(CorruptImageError, match=f"image at index {bad_row} of split 'train' \\(column 'img'\\)"):
        dataset.__getitems__(list(range(rows)))


# --- checkpoints -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_iso_transformer(tmp_path_factory):
    directory = tmp_path_factory.mktemp("iso_transformer")
    classifier_of(inductive_zoo.IsoTransformerConfig).save_pretrained(directory)
    return directory


@pytest.mark.parametrize(
    "config_class", [c for c in CONFIG_CLASSES if c.values[0] is not inductive_zoo.IsoTransformerConfig]
)
def test_a_checkpoint_of_another_variant_is_refused(config_class, saved_iso_transformer):
    classifier = CLASSIFIERS[config_class.model_type]
    with pytest.raises(CheckpointMismatchError, match="model_type 'iso_transformer', not"):
        classifier.from_pretrained(saved_iso_transformer)


def test_mismatched_shapes_are_refused_unless_asked(saved_iso_transformer):
    classifier = inductive_zoo.IsoTransformerForImageClassification
    with pytest.raises(CheckpointMismatchError, match="weights of other shapes"):
        classifier.from_pretrained(saved_iso_transformer, num_labels=7)
    with pytest.raises(CheckpointMismatchError, match="weights of other shapes"):
        classifier.from_pretrained(saved_iso_transformer, hidden_size=48, intermediate_size=96)
    model = classifier.from_pretrained(saved_iso_transformer, num_labels=7, ignore_mismatched_sizes=True)
    assert model.classifier.out_features == 7


def test_missing_backbone_weights_are_refused_but_a_new_head_is_not(saved_iso_transformer, tmp_path):
    model = AutoModelForImageClassification.from_pretrained(saved_iso_transformer)
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.layers.1.")}
    model.config.save_pretrained(tmp_path)
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointMismatchError, match=r"lacks \d+ backbone weights .*backbone.layers.1."):
        AutoModelForImageClassification.from_pretrained(tmp_path)
    # Changing task is fine: the masked-image-modeling head and mask token are new, the backbone is complete.
    mim = inductive_zoo.IsoTransformerForMaskedImageModeling.from_pretrained(saved_iso_transformer)
    torch.testing.assert_close(mim.backbone.norm.weight, model.backbone.norm.weight, atol=0, rtol=0)


def test_a_pickled_checkpoint_is_refused_by_default(saved_iso_transformer, tmp_path):
    model = AutoModelForImageClassification.from_pretrained(saved_iso_transformer)
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(OSError, match=r"pickled checkpoints .* are refused by default"):
        AutoModelForImageClassification.from_pretrained(tmp_path)
    trusted = AutoModelForImageClassification.from_pretrained(tmp_path, use_safetensors=False)
    torch.testing.assert_close(trusted.classifier.weight, model.classifier.weight, atol=0, rtol=0)
