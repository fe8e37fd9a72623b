"""Tests applied to every model class of every variant: a variant gets them through its manifest (`test_config`,
`token_model`, `fixed_image_size`). Token models (patches, position embedding) and convolutional models (stage maps,
any image size) share every test that makes sense for both; the few that only make sense for one kind skip the
other, saying why.
"""

import json
import math

import numpy as np
import PIL.Image
import pytest
import torch
from conftest import CONFIG_CLASSES, MODEL_CLASSES, is_token_model, tiny_config
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification
from transformers.modeling_layers import GradientCheckpointingLayer

import inductive_zoo
from inductive_zoo.data import image_processor_for
from inductive_zoo.models.registry import manifest_for


def main_output(outputs) -> torch.Tensor:
    return outputs.logits if "logits" in outputs else outputs.last_hidden_state


def only_token_models(config_class, reason: str) -> None:
    if not is_token_model(config_class):
        pytest.skip(f"{config_class.__name__} is convolutional: {reason}")


def only_convolutional_models(config_class, reason: str) -> None:
    if is_token_model(config_class):
        pytest.skip(f"{config_class.__name__} is a token model: {reason}")


def stage_map_shapes(config, batch_size: int, height: int, width: int) -> list[tuple[int, ...]]:
    """Hidden-state shapes of a ResNet layout: the stem (stride 4 for `"imagenet"`, 1 for `"cifar"`), then each
    stage, every stage after the first halving the map (sizes round up, as with padded strided convolutions)."""
    stem_stride = 4 if config.stem == "imagenet" else 1
    strides = [stem_stride] + [stem_stride * 2**index for index in range(len(config.stage_channels))]
    channels = [config.stem_width, *config.stage_channels]
    return [
        (batch_size, channel_count, math.ceil(height / stride), math.ceil(width / stride))
        for channel_count, stride in zip(channels, strides, strict=True)
    ]


def build(config_class, model_class, **overrides):
    torch.manual_seed(0)
    return model_class(tiny_config(config_class, **overrides)).eval()


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
def test_save_load_round_trip_through_safetensors_and_auto_classes(config_class, model_class, pixels, tmp_path):
    model = build(config_class, model_class)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == config_class.model_type
    assert type(AutoConfig.from_pretrained(tmp_path)) is config_class

    auto_class = AutoModelForImageClassification if "ForImageClassification" in model_class.__name__ else AutoModel
    reloaded = auto_class.from_pretrained(tmp_path).eval()
    assert type(reloaded) is model_class
    with torch.no_grad():
        torch.testing.assert_close(main_output(model(pixels)), main_output(reloaded(pixels)))


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
def test_batching_equivalence(config_class, model_class, pixels):
    model = build(config_class, model_class)
    with torch.no_grad():
        batched = main_output(model(pixels))
        single = torch.cat([main_output(model(pixels[i : i + 1])) for i in range(len(pixels))])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
@pytest.mark.parametrize("position_embedding", ["learned", "sincos"])
def test_every_parameter_and_buffer_initialised_after_from_pretrained(
    config_class, model_class, position_embedding, pixels, tmp_path
):
    # Save only the backbone: from_pretrained must initialise the missing head (built on the meta device) and
    # rebuild the non-persistent sin-cos table, rather than leave them empty or uninitialised.
    backbone_class = AutoModel._model_mapping[config_class]
    overrides = {"position_embedding": position_embedding}
    if not is_token_model(config_class):
        if position_embedding == "sincos":
            pytest.skip(f"{config_class.__name__} is convolutional: no position embedding, one case covers it")
        overrides = {}
    build(config_class, backbone_class, **overrides).save_pretrained(tmp_path)
    model = model_class.from_pretrained(tmp_path, config=tiny_config(config_class, **overrides)).eval()
    fresh = build(config_class, model_class, **overrides)
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        assert tensor.device.type == "cpu", name
        assert torch.isfinite(tensor).all(), name
    for name, buffer in model.named_buffers():
        torch.testing.assert_close(buffer, dict(fresh.named_buffers())[name], msg=name)
    if hasattr(model, "classifier"):
        weight = model.classifier.weight
        assert 0.5 * model.config.initializer_range < weight.std() < 1.5 * model.config.initializer_range
        assert torch.all(model.classifier.bias == 0)
    with torch.no_grad():
        assert torch.isfinite(main_output(model(pixels))).all()


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
def test_hidden_states_of_convolutional_models_are_stage_maps(config_class, model_class, pixels):
    only_convolutional_models(config_class, "its hidden states are tokens (test_hidden_state_and_attention_shapes)")
    model = build(config_class, model_class)
    config = model.config
    with torch.no_grad():
        outputs = model(pixels, output_hidden_states=True)
        backbone_outputs = model.base_model(pixels)
    shapes = [tuple(hidden.shape) for hidden in outputs.hidden_states]
    assert shapes == stage_map_shapes(config, len(pixels), *pixels.shape[-2:])
    assert len(shapes) == len(config.depths) + 1
    assert "attentions" not in outputs
    torch.testing.assert_close(backbone_outputs.last_hidden_state, outputs.hidden_states[-1])
    torch.testing.assert_close(backbone_outputs.pooler_output, outputs.hidden_states[-1].mean(dim=(2, 3)))
    if "logits" in outputs:
        assert outputs.logits.shape == (len(pixels), config.num_labels)
    else:
        assert outputs.pooler_output.shape == (len(pixels), config.stage_channels[-1])


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
def test_hidden_state_and_attention_shapes(config_class, model_class, pixels):
    only_token_models(config_class, "no tokens or attention maps (test_hidden_states_of_convolutional_models_...)")
    model = build(config_class, model_class)
    config = model.config
    with torch.no_grad():
        outputs = model(pixels, output_hidden_states=True, output_attentions=True)
    # The class token joins before block `class_token_layer` (0 for ViT-like models, later for ConViT).
    join = model.base_model.class_token_layer
    has_class_token = config.pooling == "cls"
    tokens_after = [
        config.num_patches + (has_class_token and index >= join) for index in range(-1, len(model.base_model.layers))
    ]
    tokens_after[0] = config.num_patches + (has_class_token and join == 0)
    assert len(outputs.hidden_states) == config.num_hidden_layers + 1
    for hidden, num_tokens in zip(outputs.hidden_states, tokens_after, strict=True):
        assert hidden.shape == (len(pixels), num_tokens, config.hidden_size)
    if hasattr(config, "num_attention_heads"):
        assert len(outputs.attentions) == config.num_hidden_layers
        for attention, num_tokens in zip(outputs.attentions, tokens_after[1:], strict=True):
            assert attention.shape == (len(pixels), config.num_attention_heads, num_tokens, num_tokens)
            if config.model_type == "ibit":  # no softmax: each map is normalised to unit Frobenius norm
                torch.testing.assert_close(attention.flatten(2).norm(dim=-1), torch.ones(attention.shape[:2]))
            else:
                torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:-1]))
    else:
        assert outputs.attentions is None
    if hasattr(outputs, "logits"):
        assert outputs.logits.shape == (len(pixels), config.num_labels)
    else:
        assert outputs.pooler_output.shape == (len(pixels), config.hidden_size)


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
def test_gradient_checkpointing_gives_the_same_gradients(config_class, model_class, pixels):
    overrides = {"drop_path_rate": 0.0} if is_token_model(config_class) else {}

    def gradients(checkpointing: bool) -> dict[str, torch.Tensor]:
        model = build(config_class, model_class, **overrides).train()
        if checkpointing:
            model.activation_checkpointing_enable()
            if is_token_model(config_class):
                assert all(layer.gradient_checkpointing for layer in model.base_model.layers)
            blocks = [module for module in model.modules() if isinstance(module, GradientCheckpointingLayer)]
            assert blocks and all(block.gradient_checkpointing for block in blocks)
        main_output(model(pixels)).pow(2).mean().backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain, checkpointed = gradients(False), gradients(True)
    assert plain.keys() == checkpointed.keys() and plain
    for name in plain:
        torch.testing.assert_close(plain[name], checkpointed[name], atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
@pytest.mark.parametrize("position_embedding", ["learned", "sincos", "sequence_sincos", "none"])
def test_other_image_size_with_position_interpolation(config_class, model_class, position_embedding):
    only_token_models(config_class, "no position embedding to interpolate (test_convolutional_models_take_any_size)")
    model = build(config_class, model_class, position_embedding=position_embedding)
    larger = torch.randn(2, 3, 24, 24)
    with pytest.raises(ValueError, match="does not match the model's 16x16"):
        model(larger)
    # Position-specific weights: one image size only.
    if not manifest_for(config_class).model_class.runs_at_any_image_size:
        with pytest.raises(ValueError, match="cannot run at another image size"):
            model(larger, interpolate_pos_encoding=True)
        return
    with torch.no_grad():
        outputs = model(larger, interpolate_pos_encoding=True, output_hidden_states=True)
    assert outputs.hidden_states[-1].shape[1] == 36 + (model.config.pooling == "cls")
    # Interpolating to the model's own size is the identity.
    same = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(main_output(model(same)), main_output(model(same, interpolate_pos_encoding=True)))


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
def test_convolutional_models_take_any_size(config_class, model_class):
    only_convolutional_models(config_class, "other sizes need interpolate_pos_encoding (tested above)")
    model = build(config_class, model_class)
    for height, width in [(24, 24), (20, 28), (9, 16)]:
        pixels = torch.randn(2, 3, height, width)
        with torch.no_grad():
            outputs = model(pixels, output_hidden_states=True)
        shapes = [tuple(hidden.shape) for hidden in outputs.hidden_states]
        assert shapes == stage_map_shapes(model.config, 2, height, width)
        assert torch.isfinite(main_output(outputs)).all()
    # Translation equivariance (no position-dependent part): cropping 4 px of an image's zero frame crops the
    # first stage's map (stride 1 with the cifar stem) the same way, away from the crop's new border.
    if model.config.stem == "cifar":
        pixels = torch.zeros(1, 3, 32, 32)
        pixels[..., 8:24, 8:24] = torch.randn(1, 3, 16, 16)
        with torch.no_grad():
            framed = model(pixels, output_hidden_states=True).hidden_states[1]
            cropped = model(pixels[..., 4:28, 4:28], output_hidden_states=True).hidden_states[1]
        torch.testing.assert_close(framed[..., 8:24, 8:24], cropped[..., 4:20, 4:20])


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_grayscale_and_rgba_inputs_are_converted_by_the_processor(config_class, tmp_path):
    model_class = AutoModelForImageClassification._model_mapping[config_class]
    model = build(config_class, model_class)
    image_processor_for(model.config.image_size).save_pretrained(tmp_path)
    processor = AutoImageProcessor.from_pretrained(tmp_path)
    rng = np.random.default_rng(0)
    gray = PIL.Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8), mode="L")
    rgba = PIL.Image.fromarray(rng.integers(0, 255, (20, 28, 4), dtype=np.uint8), mode="RGBA")
    for image in (gray, rgba, gray.convert("P")):
        pixel_values = processor(image, return_tensors="pt")["pixel_values"]
        assert pixel_values.shape == (1, 3, 16, 16)
        with torch.no_grad():
            assert model(pixel_values).logits.shape == (1, model.config.num_labels)
    # Grayscale becomes three equal channels before normalisation.
    gray_pixels = processor(gray, return_tensors="pt")["pixel_values"][0]
    std = torch.tensor(processor.image_std).view(3, 1, 1)
    mean = torch.tensor(processor.image_mean).view(3, 1, 1)
    unnormalised = gray_pixels * std + mean
    torch.testing.assert_close(unnormalised[0], unnormalised[1], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
def test_wrong_channel_count_is_a_clear_error(config_class, model_class):
    model = build(config_class, model_class)
    with pytest.raises(ValueError, match=r"has 1 channels but the model expects config\.num_channels=3"):
        model(torch.randn(2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"shape \(batch, channels, height, width\)"):
        model(torch.randn(3, 16, 16))


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_labels_outside_num_labels_are_a_clear_error(config_class, pixels):
    model = build(config_class, AutoModelForImageClassification._model_mapping[config_class])
    with pytest.raises(ValueError, match=r"label ids must be in \[0, 5\)"):
        model(pixels, labels=torch.tensor([0, 1, 5]))
    loss = model(pixels, labels=torch.tensor([0, 1, 4])).loss
    assert loss.ndim == 0 and torch.isfinite(loss)


TOKEN_MODEL_INVALID_CONFIGS = [
    ({"image_size": 18}, r"image_size \(18\) must be divisible by patch_size \(4\)"),
    ({"pooling": "max"}, "pooling must be one of"),
    ({"position_embedding": "rope"}, "position_embedding must be one of"),
    ({"patch_embedding": "conv_stem", "patch_size": 3, "image_size": 15}, "power of two"),
    (
        {"position_embedding": "sincos", "hidden_size": 30, "num_attention_heads": 2},
        "sincos' needs hidden_size divisible by 4",
    ),
    ({"num_hidden_layers": 0}, "num_hidden_layers must be a positive integer"),
    ({"drop_path_rate": 1.0}, r"drop_path_rate must be in \[0, 1\)"),
]
# The ResNet layout fields (the CADA switches are checked in test_cada_resnet.py).
CONVOLUTIONAL_MODEL_INVALID_CONFIGS = [
    ({"image_size": 0}, "image_size must be a positive integer"),
    ({"num_channels": True}, "num_channels: Field .num_channels. expected int, got bool"),
    ({"stem": "patchify"}, "stem must be one of"),
    ({"stem_width": 0}, "stem_width must be a positive integer"),
    ({"depths": [1, 0]}, "depths must be a non-empty list of positive integers"),
    ({"depths": []}, "depths must be a non-empty list of positive integers"),
    ({"bottleneck_widths": 8}, "bottleneck_widths: Field .bottleneck_widths. with value 8 doesn.t match"),
    (
        {"bottleneck_widths": [4, 8, 16]},
        r"depths \(\[1, 2\]\) and bottleneck_widths \(\[4, 8, 16\]\) must have the same",
    ),
    ({"bottleneck_expansion": 0}, "bottleneck_expansion must be a positive integer"),
    ({"initializer_range": 0.0}, "initializer_range must be positive"),
]
INVALID_CONFIGS = [
    pytest.param(config_class, overrides, message, id=f"{config_class.__name__}-{'-'.join(overrides)}")
    for config_class, _, _ in inductive_zoo.VARIANTS
    for overrides, message in (
        TOKEN_MODEL_INVALID_CONFIGS if is_token_model(config_class) else CONVOLUTIONAL_MODEL_INVALID_CONFIGS
    )
]


@pytest.mark.parametrize(("config_class", "overrides", "message"), INVALID_CONFIGS)
def test_invalid_configs_raise_value_error_naming_the_field(config_class, overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(config_class, **overrides)


def test_variant_specific_invalid_configs():
    from inductive_zoo import IsoConvNetConfig, IsoMixerConfig, IsoTransformerConfig

    with pytest.raises(ValueError, match=r"hidden_size \(30\) must be divisible by num_attention_heads \(4\)"):
        tiny_config(IsoTransformerConfig, hidden_size=30)
    with pytest.raises(ValueError, match="kernel_size must be a positive odd integer"):
        tiny_config(IsoConvNetConfig, kernel_size=4)
    with pytest.raises(ValueError, match="pooling must be 'mean' for IsoConvNet"):
        tiny_config(IsoConvNetConfig, pooling="cls")
    with pytest.raises(ValueError, match="token_mixing_hidden_size must be a positive integer"):
        tiny_config(IsoMixerConfig, token_mixing_hidden_size=0)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        IsoTransformerConfig.from_preset("huge")


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
@pytest.mark.parametrize("patch_embedding", ["linear", "conv_stem"])
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_inductive_bias_switches_build_and_run(config_class, patch_embedding, pooling, pixels):
    only_token_models(config_class, "no patch embedding or pooling switch (its switches: test_cada_resnet.py)")
    if not manifest_for(config_class).model_class.supports_class_token and pooling == "cls":
        pytest.skip("a mixer of the patch grid only, no class token (checked with the variant's invalid configs)")
    model_class = AutoModelForImageClassification._model_mapping[config_class]
    model = build(config_class, model_class, patch_embedding=patch_embedding, pooling=pooling)
    with torch.no_grad():
        outputs = model(pixels, output_hidden_states=True)
    assert outputs.logits.shape == (3, 5)
    assert outputs.hidden_states[-1].shape[1] == 16 + (pooling == "cls")


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_presets_have_the_documented_geometry(config_class):
    if not is_token_model(config_class):
        for name in config_class.presets:
            config = config_class.from_preset(name, num_labels=1000)
            # `-32` presets: CIFAR stem at 32 px (`-stem4-32`: the ImageNet stem); `-224`: ImageNet stem at 224 px.
            expected = (32, "imagenet" if "-stem4-" in name else "cifar") if name.endswith("-32") else (224, "imagenet")
            assert (config.image_size, config.stem) == expected
            assert config.num_labels == 1000
        return
    for name in config_class.presets:
        config = config_class.from_preset(name)
        assert (config.image_size, config.patch_size) == ((32, 4) if name.endswith("patch4-32") else (224, 16))
    tiny = config_class.from_preset("tiny-patch16-224", num_labels=1000)
    # DeiT-Ti width (192), except PRS-ViT whose 9 heads (a 3x3 kernel) of 32 give 288.
    expected_width = 288 if config_class.model_type == "prs_vit" else 192
    assert (tiny.hidden_size, tiny.num_hidden_layers, tiny.num_labels) == (expected_width, 12, 1000)


def test_sdpa_and_eager_attention_agree(pixels):
    from inductive_zoo import IsoTransformerConfig, IsoTransformerForImageClassification

    model = build(IsoTransformerConfig, IsoTransformerForImageClassification)
    with torch.no_grad():
        sdpa = model(pixels).logits
        model.set_attn_implementation("eager")
        eager = model(pixels).logits
    torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=1e-5)
