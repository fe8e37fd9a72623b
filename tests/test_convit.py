"""ConViT: conversion from the reference key layout, GPSA as a convolution, local initialisation, attention maps."""

import re
from pathlib import Path

import pytest
import torch
from inductive_zoo.conversion import (
    convert_convit,
    convert_convit_model,
    convert_convit_state_dict,
    convit_config_from_reference,
    infer_convit_hyperparameters,
    unwrap_convit_checkpoint,
)

from inductive_zoo import ConViTConfig, ConViTForImageClassification, ConViTModel
from inductive_zoo.layers import GatedPositionalSelfAttention
from inductive_zoo.layers.mixers.positional_attention import kernel_offsets

# Small reference models: (img_size, patch_size, embed_dim, depth, num_heads, mlp_hidden, local_up_to_layer,
# num_classes, qkv_bias).
REFERENCE_MODELS = {
    "4 heads": dict(
        img_size=16,
        patch_size=4,
        embed_dim=32,
        depth=3,
        num_heads=4,
        mlp_hidden=64,
        local_up_to_layer=2,
        num_classes=5,
        qkv_bias=False,
    ),
    "9 heads, qkv bias, mlp ratio 3": dict(
        img_size=24,
        patch_size=8,
        embed_dim=36,
        depth=2,
        num_heads=9,
        mlp_hidden=108,
        local_up_to_layer=1,
        num_classes=3,
        qkv_bias=True,
    ),
}


def reference_state_dict(
    *,
    img_size: int,
    patch_size: int,
    embed_dim: int,
    depth: int,
    num_heads: int,
    mlp_hidden: int,
    local_up_to_layer: int,
    num_classes: int,
    qkv_bias: bool,
    use_pos_embed: bool = True,
    in_chans: int = 3,
) -> dict[str, torch.Tensor]:
    """A state dict in the reference ConViT layout (facebookresearch/convit and timm), written out by hand, with
    random values: GPSA blocks hold `attn.{qk,v,proj,pos_proj,gating_param}`, the others `attn.{qkv,proj}`."""
    generator = torch.Generator().manual_seed(0)
    dim = embed_dim
    shapes = {"patch_embed.proj.weight": (dim, in_chans, patch_size, patch_size), "patch_embed.proj.bias": (dim,)}
    shapes["cls_token"] = (1, 1, dim)
    if use_pos_embed:
        shapes["pos_embed"] = (1, (img_size // patch_size) ** 2, dim)
    for index in range(depth):
        block = f"blocks.{index}"
        shapes.update({f"{block}.norm1.weight": (dim,), f"{block}.norm1.bias": (dim,)})
        if index < local_up_to_layer:
            shapes.update({f"{block}.attn.qk.weight": (2 * dim, dim), f"{block}.attn.v.weight": (dim, dim)})
            if qkv_bias:
                shapes.update({f"{block}.attn.qk.bias": (2 * dim,), f"{block}.attn.v.bias": (dim,)})
            shapes.update(
                {f"{block}.attn.pos_proj.weight": (num_heads, 3), f"{block}.attn.pos_proj.bias": (num_heads,)}
            )
            shapes[f"{block}.attn.gating_param"] = (num_heads,)
        else:
            shapes[f"{block}.attn.qkv.weight"] = (3 * dim, dim)
            if qkv_bias:
                shapes[f"{block}.attn.qkv.bias"] = (3 * dim,)
        shapes.update({f"{block}.attn.proj.weight": (dim, dim), f"{block}.attn.proj.bias": (dim,)})
        shapes.update({f"{block}.norm2.weight": (dim,), f"{block}.norm2.bias": (dim,)})
        shapes.update({f"{block}.mlp.fc1.weight": (mlp_hidden, dim), f"{block}.mlp.fc1.bias": (mlp_hidden,)})
        shapes.update({f"{block}.mlp.fc2.weight": (dim, mlp_hidden), f"{block}.mlp.fc2.bias": (dim,)})
    shapes.update({"norm.weight": (dim,), "norm.bias": (dim,)})
    if num_classes:
        shapes.update({"head.weight": (num_classes, dim), "head.bias": (num_classes,)})
    return {key: torch.randn(shape, generator=generator) * 0.3 for key, shape in shapes.items()}


def expected_hyperparameters(model: dict) -> dict:
    return dict(
        in_chans=3,
        embed_dim=model["embed_dim"],
        patch_size=model["patch_size"],
        depth=model["depth"],
        local_up_to_layer=model["local_up_to_layer"],
        num_heads=model["num_heads"],
        mlp_ratio=model["mlp_hidden"] / model["embed_dim"],
        qkv_bias=model["qkv_bias"],
        use_pos_embed=True,
        img_size=model["img_size"],
        num_classes=model["num_classes"],
    )


# (a) the key mapping


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_layout_converts_completely_and_loads_strictly(name: str) -> None:
    reference = reference_state_dict(**REFERENCE_MODELS[name])
    hyperparameters = infer_convit_hyperparameters(reference)
    assert hyperparameters == expected_hyperparameters(REFERENCE_MODELS[name])
    converted = convert_convit_state_dict(reference)
    assert len(converted) == len(reference)
    model = ConViTForImageClassification(convit_config_from_reference(**hyperparameters))
    assert converted.keys() == model.state_dict().keys()
    model.load_state_dict(converted, strict=True)
    assert converted["backbone.layers.0.token_mixer.gating_param"] is reference["blocks.0.attn.gating_param"]
    last = REFERENCE_MODELS[name]["depth"] - 1
    assert converted[f"backbone.layers.{last}.token_mixer.qkv.weight"] is reference[f"blocks.{last}.attn.qkv.weight"]
    assert converted["backbone.embeddings.position_embedding.weight"] is reference["pos_embed"]
    assert converted["classifier.weight"] is reference["head.weight"]


def test_convert_model_keeps_every_tensor_and_the_settings() -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["9 heads, qkv bias, mlp ratio 3"])
    model = convert_convit_model(reference, layer_norm_eps=1e-5, locality_strength=2.0)
    assert not model.training
    config = model.config
    assert (config.image_size, config.patch_size, config.hidden_size, config.intermediate_size) == (24, 8, 36, 108)
    assert (config.num_attention_heads, config.local_up_to_layer, config.num_labels) == (9, 1, 3)
    assert (config.qkv_bias, config.layer_norm_eps, config.locality_strength) == (True, 1e-5, 2.0)
    ours = model.state_dict()
    for key, tensor in convert_convit_state_dict(reference).items():
        assert torch.equal(ours[key], tensor), key
    assert model.backbone.layers[1].norm1.eps == 1e-5


@pytest.mark.parametrize("prefix", ["module.", "model.", "module.model."])
def test_wrapper_prefixes_and_training_checkpoints_are_accepted(prefix: str) -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["4 heads"])
    prefixed = {prefix + key: tensor for key, tensor in reference.items()}
    expected = convert_convit_state_dict(reference)
    checkpoint = {"model": prefixed, "optimizer": {"state": {}}, "epoch": 3}
    for state_dict in (prefixed, unwrap_convit_checkpoint(checkpoint)):
        converted = convert_convit_state_dict(state_dict)
        assert converted.keys() == expected.keys()
        assert all(converted[key] is tensor for key, tensor in expected.items())
    assert infer_convit_hyperparameters(prefixed) == infer_convit_hyperparameters(reference)


@pytest.mark.parametrize(
    "extra_key", ["blocks.0.attn.rel_indices", "dist_token", "patch_embed.backbone.stem.weight", "blocks.1.ls1.gamma"]
)
def test_unknown_key_raises_naming_it(extra_key: str) -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["4 heads"])
    reference[extra_key] = torch.zeros(1)
    with pytest.raises(ValueError, match=re.escape(extra_key)):
        convert_convit_state_dict(reference)
    with pytest.raises(ValueError, match=re.escape(extra_key)):
        infer_convit_hyperparameters(reference)


def test_a_partial_prefix_is_not_stripped() -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["4 heads"])
    reference["module.norm.weight"] = reference.pop("norm.weight")
    with pytest.raises(ValueError, match=re.escape("module.norm.weight")):
        convert_convit_state_dict(reference)


def test_without_gpsa_blocks_the_class_token_gets_a_zero_position() -> None:
    model = dict(REFERENCE_MODELS["4 heads"], local_up_to_layer=0)
    reference = reference_state_dict(**model)
    hyperparameters = infer_convit_hyperparameters(reference)
    assert "num_heads" not in hyperparameters and hyperparameters["local_up_to_layer"] == 0
    converted = convert_convit_model(reference, num_heads=4)
    position = converted.backbone.embeddings.position_embedding.weight
    assert position.shape == (1, 17, 32)
    assert torch.equal(position[:, 0], torch.zeros(1, 32)) and torch.equal(position[:, 1:], reference["pos_embed"])


def test_headless_model_without_position_embedding() -> None:
    reference = reference_state_dict(**dict(REFERENCE_MODELS["4 heads"], num_classes=0), use_pos_embed=False)
    hyperparameters = infer_convit_hyperparameters(reference)
    assert hyperparameters["num_classes"] == 0 and not hyperparameters["use_pos_embed"]
    assert "img_size" not in hyperparameters
    model = convert_convit_model(reference, img_size=16)
    assert model.config.position_embedding == "none" and model.config.num_labels == 0
    assert model(torch.randn(2, 3, 16, 16)).logits.shape == (2, 32)


def test_hyperparameters_that_cannot_be_represented_raise() -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["4 heads"])
    swapped = {}  # blocks 0 and 2 exchanged: GPSA in blocks 1 and 2
    for key, tensor in reference.items():
        for old, new in (("blocks.0.", "blocks.2."), ("blocks.2.", "blocks.0.")):
            if key.startswith(old):
                key = new + key.removeprefix(old)
                break
        swapped[key] = tensor
    with pytest.raises(ValueError, match="GPSA blocks must be the first"):
        infer_convit_hyperparameters(swapped)
    biased = dict(reference, **{"blocks.2.attn.qkv.bias": torch.zeros(96)})
    with pytest.raises(ValueError, match="only some attention layers"):
        infer_convit_hyperparameters(biased)
    with pytest.raises(ValueError, match="qk_scale"):
        convit_config_from_reference(embed_dim=32, num_heads=4, qk_scale=0.5)
    with pytest.raises(ValueError, match="local_up_to_layer"):
        convit_config_from_reference(depth=4, local_up_to_layer=4)
    with pytest.raises(ValueError, match="do not fit"):
        convert_convit_model(reference, mlp_ratio=3.0)


def test_config_from_reference_arguments() -> None:
    config = convit_config_from_reference(
        img_size=(32, 32), patch_size=4, embed_dim=72, num_heads=9, depth=4, mlp_ratio=2.5, local_up_to_layer=3
    )
    assert (config.image_size, config.patch_size, config.hidden_size, config.intermediate_size) == (32, 4, 72, 180)
    assert (config.layer_norm_eps, config.qkv_bias, config.pooling, config.num_labels) == (1e-6, False, "cls", 1000)
    tiny = convit_config_from_reference()  # ConViT-Ti at 224 pixels
    expected = ConViTConfig.from_preset("tiny-patch16-224", num_labels=1000)
    assert tiny.to_diff_dict() == expected.to_diff_dict()
    assert convit_config_from_reference(layer_norm_eps=1e-5).layer_norm_eps == 1e-5


def test_convert_script_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["4 heads"])
    checkpoint, output_dir = tmp_path / "convit.pth", tmp_path / "converted"
    torch.save({"model": {f"module.{key}": tensor for key, tensor in reference.items()}, "epoch": 1}, checkpoint)
    convert_convit.main(
        ["--checkpoint", str(checkpoint), "--output_dir", str(output_dir), "--locality_strength", "3", "--check"]
    )
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {p.name for p in output_dir.iterdir()}
    assert "max abs logit difference 0.000e+00" in capsys.readouterr().out
    model = ConViTForImageClassification.from_pretrained(output_dir)
    assert model.config.locality_strength == 3.0 and model.config.layer_norm_eps == 1e-6
    ours = model.state_dict()
    for key, tensor in convert_convit_state_dict(reference).items():
        assert torch.equal(ours[key], tensor), key


# (b) GPSA as a convolution


@pytest.mark.parametrize("num_heads", [1, 9, 25])
def test_saturated_local_gpsa_is_a_shift_of_the_input(num_heads: int) -> None:
    """With the gate on the positional part and a large locality strength, each head of GPSA copies its channels from
    the token at its kernel offset, clamped to the grid (replicate padding): one tap of a convolution."""
    head_dim, grid = 3, (5, 7)
    hidden = num_heads * head_dim
    config = ConViTConfig(hidden_size=hidden, num_attention_heads=num_heads, num_hidden_layers=2, local_up_to_layer=1)
    layer = GatedPositionalSelfAttention(config).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        layer.qk.weight.normal_(0.0, 1.0)  # a strong content part, that the gate must switch off
        layer.pos_proj.weight.copy_(layer.local_position_weight(50.0))
        layer.pos_proj.bias.zero_()
        layer.gating_param.fill_(30.0)
        layer.v.weight.copy_(torch.eye(hidden))
        layer.proj.weight.copy_(torch.eye(hidden))
        layer.proj.bias.zero_()
    hidden_states = torch.randn(2, grid[0] * grid[1], hidden)
    with torch.no_grad():
        output, _ = layer(hidden_states, grid_size=grid)

    pixels = hidden_states.reshape(2, *grid, hidden)
    expected = torch.empty_like(pixels)
    for head, (dx, dy) in enumerate(kernel_offsets(num_heads)):
        rows = (torch.arange(grid[0]) + int(dy)).clamp(0, grid[0] - 1)
        cols = (torch.arange(grid[1]) + int(dx)).clamp(0, grid[1] - 1)
        channels = slice(head * head_dim, (head + 1) * head_dim)
        expected[..., channels] = pixels[:, rows][:, :, cols][..., channels]
    assert (output - expected.reshape_as(output)).abs().max().item() < 1e-5
    if num_heads > 1:  # the shifts differ between heads, so the test can tell them apart
        assert (output - hidden_states).abs().max().item() > 0.1


# (c) local initialisation


def local_rows(num_heads: int, alpha: float) -> torch.Tensor:
    """The reference's local init for a 3x3 kernel, written out: head `p = h1 + 3 h2` looks at `dx = h2 - 1`,
    `dy = h1 - 1`, with `pos_proj` row `alpha * (2 dx, 2 dy, -1)`."""
    assert num_heads == 9
    return torch.tensor([[2.0 * (p // 3 - 1), 2.0 * (p % 3 - 1), -1.0] for p in range(9)]) * alpha


def test_fresh_convit_is_locally_initialised_and_survives_a_round_trip(tmp_path: Path) -> None:
    config = ConViTConfig(
        image_size=20,
        patch_size=4,
        hidden_size=36,
        num_attention_heads=9,
        num_hidden_layers=3,
        intermediate_size=72,
        local_up_to_layer=2,
        locality_strength=2.5,
    )
    model = ConViTModel(config)

    def assert_local(model: ConViTModel) -> None:
        for layer in model.layers[: config.local_up_to_layer]:
            mixer = layer.token_mixer
            assert torch.allclose(mixer.pos_proj.weight, local_rows(9, 2.5))
            assert torch.equal(mixer.pos_proj.bias, torch.zeros(9))
            assert torch.equal(mixer.v.weight, torch.eye(36))
            assert torch.equal(mixer.gating_param, torch.ones(9))

    assert_local(model)
    model.save_pretrained(tmp_path / "fresh")
    assert_local(ConViTModel.from_pretrained(tmp_path / "fresh"))

    # Trained values are loaded, not re-initialised.
    with torch.no_grad():
        for layer in model.layers[: config.local_up_to_layer]:
            layer.token_mixer.pos_proj.weight.normal_()
            layer.token_mixer.v.weight.normal_()
            layer.token_mixer.gating_param.normal_()
    model.save_pretrained(tmp_path / "trained")
    reloaded = ConViTModel.from_pretrained(tmp_path / "trained")
    for key, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], tensor), key


def test_local_positional_attention_peaks_at_the_kernel_offsets() -> None:
    config = ConViTConfig(hidden_size=36, num_attention_heads=9, num_hidden_layers=2, local_up_to_layer=1)
    mixer = ConViTModel(config).layers[0].token_mixer
    grid = (5, 6)
    attention = mixer.positional_attention(grid, torch.float32)[0]  # (heads, N, N)
    for row in range(1, grid[0] - 1):
        for col in range(1, grid[1] - 1):
            query = row * grid[1] + col
            for head, (dx, dy) in enumerate(kernel_offsets(9)):
                assert attention[head, query].argmax().item() == (row + int(dy)) * grid[1] + col + int(dx)
    offsets = {(int(dx), int(dy)) for dx, dy in kernel_offsets(9)}
    assert offsets == {(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}


# (d) attention maps


def test_output_attentions_shapes() -> None:
    config = ConViTConfig(
        image_size=16,
        patch_size=4,
        hidden_size=32,
        num_attention_heads=4,
        num_hidden_layers=3,
        intermediate_size=64,
        local_up_to_layer=2,
        num_labels=5,
    )
    model = ConViTForImageClassification(config).eval()
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, 16, 16), output_attentions=True, output_hidden_states=True)
    assert [tuple(a.shape) for a in outputs.attentions] == [(2, 4, 16, 16), (2, 4, 16, 16), (2, 4, 17, 17)]
    for attention in outputs.attentions:
        assert torch.allclose(attention.sum(-1), torch.ones(()), atol=1e-5)
    assert [tuple(h.shape) for h in outputs.hidden_states] == [(2, 16, 32)] * 3 + [(2, 17, 32)]


# (e) invalid configurations


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(num_hidden_layers=4, local_up_to_layer=5), "local_up_to_layer"),
        (dict(num_hidden_layers=4, local_up_to_layer=-1), "local_up_to_layer"),
        (dict(num_hidden_layers=4, local_up_to_layer=4), "pooling='cls'"),
        (dict(locality_strength=0.0), "locality_strength"),
        (dict(locality_strength=-1.0), "locality_strength"),
        (dict(hidden_size=30, num_attention_heads=4), "divisible"),
    ],
)
def test_invalid_configs_raise(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ConViTConfig(**overrides)


def test_mean_pooling_allows_gpsa_in_every_block() -> None:
    config = ConViTConfig(
        num_hidden_layers=2, local_up_to_layer=2, pooling="mean", hidden_size=32, num_attention_heads=4
    )
    assert config.local_up_to_layer == config.num_hidden_layers
