"""The ViT -> IsoTransformer conversion reproduces transformers' own ViT (random weights, both key layouts)."""

import re
from pathlib import Path

import pytest
import torch
from inductive_zoo.conversion import (
    convert_vit,
    convert_vit_model,
    convert_vit_state_dict,
    iso_transformer_config_from_vit,
)
from torch import nn
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor, ViTModel

from inductive_zoo import IsoTransformerForImageClassification, IsoTransformerModel

TOLERANCE = 1e-4

# transformers 5 -> transformers 4 (Hub checkpoint) names of the layer parameters, applied in order.
LEGACY_RENAMES = (
    (r"\blayers\.(\d+)\.", r"encoder.layer.\1."),
    (r"\.attention\.q_proj\.", ".attention.attention.query."),
    (r"\.attention\.k_proj\.", ".attention.attention.key."),
    (r"\.attention\.v_proj\.", ".attention.attention.value."),
    (r"\.attention\.o_proj\.", ".attention.output.dense."),
    (r"\.mlp\.fc1\.", ".intermediate.dense."),
    (r"\.mlp\.fc2\.", ".output.dense."),
)


def vit_config(**overrides) -> ViTConfig:
    fields = dict(image_size=32, patch_size=4, hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    fields.update(intermediate_size=128, **({} if "id2label" in overrides else {"num_labels": 10}))
    return ViTConfig(**{**fields, **overrides})


def randomised(model: nn.Module) -> nn.Module:
    """Re-draws every parameter so that a dropped, swapped or misplaced one shows in the outputs: LayerNorm scales
    around 1, biases, class, mask and position tokens around 0 (ViT initialises them to constants or near zero), and
    weights at twice the variance-preserving scale (ViT's std 0.02 leaves attention nearly uniform, so that
    swapping queries and keys would hardly change the logits). Returns the model in eval mode."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.normal_(0.0, 0.2)
            elif parameter.ndim == 1:
                parameter.normal_(1.0, 0.2)
            elif name.endswith(("cls_token", "mask_token", "position_embeddings")):
                parameter.normal_(0.0, 1.0)
            else:
                parameter.normal_(0.0, 2.0 / parameter[0].numel() ** 0.5)
    return model.eval()


def to_legacy(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, tensor in state_dict.items():
        for pattern, replacement in LEGACY_RENAMES:
            key = re.sub(pattern, replacement, key)
        renamed[key] = tensor
    return renamed


def max_difference(expected: torch.Tensor, actual: torch.Tensor) -> float:
    assert expected.shape == actual.shape
    return (expected - actual).abs().max().item()


@pytest.mark.parametrize("qkv_bias", [True, False])
def test_classification_logits_match(qkv_bias: bool) -> None:
    vit = randomised(ViTForImageClassification(vit_config(qkv_bias=qkv_bias)))
    model = convert_vit_model(vit)
    assert isinstance(model, IsoTransformerForImageClassification) and not model.training
    pixel_values = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected, actual = vit(pixel_values).logits, model(pixel_values).logits
    assert expected.abs().max() > 0.1
    assert max_difference(expected, actual) < TOLERANCE


def test_interpolated_logits_match() -> None:
    vit = randomised(ViTForImageClassification(vit_config()))
    model = convert_vit_model(vit)
    pixel_values = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        expected = vit(pixel_values, interpolate_pos_encoding=True).logits
        actual = model(pixel_values, interpolate_pos_encoding=True).logits
    assert max_difference(expected, actual) < TOLERANCE


def test_a_wrong_mapping_is_detected() -> None:
    """Swapping query and key in the fused projection must break parity, or the tests above prove nothing."""
    vit = randomised(ViTForImageClassification(vit_config()))
    model = convert_vit_model(vit)
    with torch.no_grad():
        query, key, value = model.backbone.layers[0].token_mixer.qkv.weight.clone().chunk(3)
        model.backbone.layers[0].token_mixer.qkv.weight.copy_(torch.cat([key, query, value]))
        pixel_values = torch.randn(2, 3, 32, 32)
        assert max_difference(vit(pixel_values).logits, model(pixel_values).logits) > 100 * TOLERANCE


def test_vit_model_last_hidden_state_matches() -> None:
    vit = randomised(ViTModel(vit_config(), use_mask_token=True))
    assert vit.pooler is not None
    model = convert_vit_model(vit)
    assert isinstance(model, IsoTransformerModel)
    pixel_values = torch.randn(2, 3, 32, 32)
    bool_masked_pos = torch.rand(2, 64) < 0.5
    with torch.no_grad():
        for masked in (None, bool_masked_pos):
            expected = vit(pixel_values, bool_masked_pos=masked).last_hidden_state
            actual = model(pixel_values, bool_masked_pos=masked).last_hidden_state
            assert max_difference(expected, actual) < TOLERANCE


@pytest.mark.parametrize("model_class", [ViTForImageClassification, ViTModel])
def test_legacy_layout_converts_to_the_same_state_dict(model_class: type[nn.Module]) -> None:
    state_dict = randomised(model_class(vit_config())).state_dict()
    legacy = to_legacy(state_dict)
    stack = "vit.encoder.layer." if model_class is ViTForImageClassification else "encoder.layer."
    assert f"{stack}1.attention.attention.query.weight" in legacy and f"{stack}1.intermediate.dense.bias" in legacy
    expected, actual = convert_vit_state_dict(state_dict), convert_vit_state_dict(legacy)
    assert expected.keys() == actual.keys()
    for key, tensor in expected.items():
        assert torch.equal(tensor, actual[key]), key


def test_converted_keys_are_exactly_ours() -> None:
    vit = ViTForImageClassification(vit_config())
    converted = convert_vit_state_dict(vit.state_dict())
    ours = IsoTransformerForImageClassification(iso_transformer_config_from_vit(vit.config)).state_dict()
    assert converted.keys() == ours.keys()
    qkv = converted["backbone.layers.1.token_mixer.qkv.weight"]
    attention = vit.vit.layers[1].attention
    assert torch.equal(qkv, torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight]))


@pytest.mark.parametrize("extra_key", ["vit.encoder.layer.0.attention.attention.rel_pos_bias", "decoder.0.weight"])
def test_unknown_key_raises_naming_it(extra_key: str) -> None:
    state_dict = ViTForImageClassification(vit_config()).state_dict()
    state_dict[extra_key] = torch.zeros(1)
    with pytest.raises(ValueError, match=re.escape(extra_key)):
        convert_vit_state_dict(state_dict)


def test_missing_qkv_part_raises() -> None:
    state_dict = ViTModel(vit_config()).state_dict()
    del state_dict["layers.1.attention.k_proj.weight"]
    with pytest.raises(ValueError, match=r"layers\.1\.token_mixer\.qkv\.weight.*key"):
        convert_vit_state_dict(state_dict)


def test_mixed_layouts_raise() -> None:
    state_dict = ViTModel(vit_config()).state_dict()
    state_dict["encoder.layer.0.output.dense.weight"] = state_dict["layers.0.mlp.fc2.weight"]
    with pytest.raises(ValueError, match=re.escape("both map to 'layers.0.mlp.fc2.weight'")):
        convert_vit_state_dict(state_dict)


def test_config_fields_are_copied() -> None:
    vit = vit_config(
        image_size=(32, 32),
        patch_size=[4, 4],
        hidden_act="gelu_new",
        layer_norm_eps=1e-12,
        qkv_bias=False,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.2,
        initializer_range=0.05,
        id2label={0: "cat", 1: "dog"},
        label2id={"cat": 0, "dog": 1},
    )
    config = iso_transformer_config_from_vit(vit)
    assert (config.image_size, config.patch_size, config.num_labels) == (32, 4, 2)
    assert (config.hidden_act, config.layer_norm_eps, config.qkv_bias) == ("gelu_new", 1e-12, False)
    assert (config.hidden_dropout_prob, config.attention_probs_dropout_prob, config.initializer_range) == (
        0.1,
        0.2,
        0.05,
    )
    assert (config.position_embedding, config.patch_embedding, config.pooling) == ("learned", "linear", "cls")
    assert config.id2label == {0: "cat", 1: "dog"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(image_size=(32, 48)), "image_size"),
        (dict(patch_size=(4, 2)), "patch_size"),
        (dict(image_size=30), "divisible"),
        (dict(head_dim=8), "head_dim"),
    ],
)
def test_unrepresentable_configs_raise(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        iso_transformer_config_from_vit(vit_config(**overrides))


def test_convert_script_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint, output_dir = tmp_path / "vit", tmp_path / "converted"
    randomised(ViTForImageClassification(vit_config())).save_pretrained(checkpoint)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(checkpoint)
    convert_vit.main(["--checkpoint", str(checkpoint), "--output_dir", str(output_dir), "--check"])
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {p.name for p in output_dir.iterdir()}
    assert capsys.readouterr().out.count("max abs logit difference") == 2
