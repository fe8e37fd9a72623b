"""IBiT: conversion from the reference layout (giriguy/ConvFormer), and the reference switches against a plain
re-statement of the reference forward pass."""

import math
import re
from pathlib import Path

import pytest
import torch
from inductive_zoo.conversion import (
    convert_ibit,
    convert_ibit_model,
    convert_ibit_state_dict,
    ibit_config_from_reference,
    infer_ibit_hyperparameters,
)
from torch.nn import functional as F

from inductive_zoo.models.ibit import IBiTConfig, IBiTForImageClassification

# Small reference models: the reference `IBiT(...)` arguments, plus `depth` and the MLP width (fixed there to 12 and
# 4 * d_model).
REFERENCE_MODELS = {
    "3x3 grid, 3 heads, rank 4": dict(
        img_size=12, patch_size=4, d_model=12, depth=2, num_heads=3, rank=4, mlp_hidden=48, num_classes=5
    ),
    "4x4 grid, 2 heads, rank 9, mlp 3x": dict(
        img_size=8, patch_size=2, d_model=16, depth=3, num_heads=2, rank=9, mlp_hidden=48, num_classes=3
    ),
}
REFERENCE_SWITCHES = dict(
    legacy_mask_roll=True,
    residual_from_normalized=True,
    drop_path_on_mlp=False,
    final_norm=False,
    position_embedding="sequence_sincos",
    layer_norm_eps=1e-5,
    qkv_bias=True,
    pooling="cls",
    patch_embedding="linear",
    mask_kernel="exponential",
    mask_kernel_scale=0.5,
    mask_epsilon=1e-8,
    hidden_act="gelu",
)


def legacy_roll_back(num_patches: int) -> torch.Tensor:
    """The reference's `roll_back` (`gen_radial(..., append_cls=True)`), written out: the class query reads the mask
    row as is; a patch query `q` reads column 0 (the class column) for the class key and column `(k - q) mod N` for
    patch key `k` (without the `+ 1` that the class column calls for)."""
    rows = [list(range(num_patches + 1))]
    for query in range(num_patches):
        rows.append([0] + [(key - query) % num_patches for key in range(num_patches)])
    return torch.tensor(rows, dtype=torch.long)


def reference_state_dict(
    *,
    img_size: int,
    patch_size: int,
    d_model: int,
    depth: int,
    num_heads: int,
    rank: int,
    mlp_hidden: int,
    num_classes: int,
    channels: int = 3,
    patch_module: str = "scale_up",
) -> dict[str, torch.Tensor]:
    """A state dict in the reference IBiT layout, written out by hand, with random values (large enough masks and
    norm scales that every switch shows in the outputs) and the correct legacy `roll_back` buffers."""
    generator = torch.Generator().manual_seed(0)
    num_patches = (img_size // patch_size) ** 2
    length = num_patches + 1
    dim = d_model
    shapes = {
        f"{patch_module}.1.weight": (dim, channels * patch_size**2),
        f"{patch_module}.1.bias": (dim,),
        "embedding": (dim,),
    }
    for index in range(depth):
        block = f"CiTBlocks.{index}"
        for norm in ("BNorm1", "BNorm2"):
            shapes.update({f"{block}.{norm}.weight": (dim,), f"{block}.{norm}.bias": (dim,)})
        for linear in ("Linears.0", "Linears.1", "Linears.2", "final_linear"):
            shapes.update(
                {f"{block}.attention.{linear}.weight": (dim, dim), f"{block}.attention.{linear}.bias": (dim,)}
            )
        shapes.update({f"{block}.attention.mask1": (num_heads, rank, length)})
        shapes.update({f"{block}.attention.mask2": (num_heads, rank, length)})
        shapes.update({f"{block}.MLP.0.weight": (mlp_hidden, dim), f"{block}.MLP.0.bias": (mlp_hidden,)})
        shapes.update({f"{block}.MLP.3.weight": (dim, mlp_hidden), f"{block}.MLP.3.bias": (dim,)})
    shapes.update({"fcn.0.weight": (num_classes, dim), "fcn.0.bias": (num_classes,)})
    state_dict = {}
    for key, shape in shapes.items():
        values = torch.randn(shape, generator=generator)
        if key.endswith(("mask1", "mask2")):
            values = values * 0.6
        elif ".BNorm" in key and key.endswith("weight"):
            values = 1.0 + 0.3 * values
        elif len(shape) == 2:
            values = values / math.sqrt(shape[1])
        else:
            values = 0.3 * values
        state_dict[key] = values
    for index in range(depth):
        state_dict[f"CiTBlocks.{index}.attention.roll_back"] = legacy_roll_back(num_patches)
    return state_dict


def expected_hyperparameters(model: dict) -> dict:
    return dict(
        img_h=model["img_size"],
        img_w=model["img_size"],
        patch_size=model["patch_size"],
        d_model=model["d_model"],
        num_heads=model["num_heads"],
        mask_fidelity=model["rank"],
        channels=3,
        depth=model["depth"],
        mlp_hidden_size=model["mlp_hidden"],
        num_classes=model["num_classes"],
    )


# (a) the key mapping


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_layout_converts_completely_and_loads_strictly(name: str) -> None:
    spec = REFERENCE_MODELS[name]
    reference = reference_state_dict(**spec)
    hyperparameters = infer_ibit_hyperparameters(reference)
    assert hyperparameters == expected_hyperparameters(spec)
    converted = convert_ibit_state_dict(reference)
    model = IBiTForImageClassification(ibit_config_from_reference(**hyperparameters))
    assert converted.keys() == model.state_dict().keys()
    model.load_state_dict(converted, strict=True)

    dim = spec["d_model"]
    qkv = converted["backbone.layers.1.token_mixer.qkv.weight"]
    assert torch.equal(qkv[:dim], reference["CiTBlocks.1.attention.Linears.1.weight"])  # queries
    assert torch.equal(qkv[dim : 2 * dim], reference["CiTBlocks.1.attention.Linears.0.weight"])  # keys
    assert torch.equal(qkv[2 * dim :], reference["CiTBlocks.1.attention.Linears.2.weight"])  # values
    bias = converted["backbone.layers.1.token_mixer.qkv.bias"]
    assert torch.equal(bias[dim : 2 * dim], reference["CiTBlocks.1.attention.Linears.0.bias"])
    mixer = "backbone.layers.0.token_mixer"
    assert converted[f"{mixer}.mask_query_factors"] is reference["CiTBlocks.0.attention.mask1"]
    assert converted[f"{mixer}.mask_offset_factors"] is reference["CiTBlocks.0.attention.mask2"]
    assert converted[f"{mixer}.proj.weight"] is reference["CiTBlocks.0.attention.final_linear.weight"]
    assert converted["backbone.layers.0.mlp.fc2.weight"] is reference["CiTBlocks.0.MLP.3.weight"]
    assert converted["classifier.weight"] is reference["fcn.0.weight"]
    assert torch.equal(converted["backbone.embeddings.cls_token"].flatten(), reference["embedding"])
    kernel = converted["backbone.embeddings.patch_embedding.projection.weight"]
    patch = spec["patch_size"]
    assert kernel.shape == (dim, 3, patch, patch)
    # nn.Unfold flattens a patch channel-major: feature c * p * p + i * p + j is channel c, row i, column j.
    assert torch.equal(kernel[:, 2, 1, 0], reference["scale_up.1.weight"][:, 2 * patch * patch + patch])


def test_converted_config_sets_every_reference_switch() -> None:
    model = convert_ibit_model(reference_state_dict(**REFERENCE_MODELS["3x3 grid, 3 heads, rank 4"]))
    assert not model.training
    config = model.config
    for name, value in REFERENCE_SWITCHES.items():
        assert getattr(config, name) == value, name
    assert config.double_output_projection is False  # the released layer applies final_linear once
    assert (config.image_size, config.patch_size, config.hidden_size, config.num_hidden_layers) == (12, 4, 12, 2)
    assert (config.num_attention_heads, config.mask_rank, config.intermediate_size, config.num_labels) == (3, 4, 48, 5)
    assert (config.hidden_dropout_prob, config.attention_probs_dropout_prob, config.drop_path_rate) == (0.0, 0.0, 0.1)
    assert model.backbone.layers[0].norm1.eps == 1e-5
    assert isinstance(model.backbone.norm, torch.nn.Identity)
    doubled = convert_ibit_model(
        reference_state_dict(**REFERENCE_MODELS["3x3 grid, 3 heads, rank 4"]), double_output_projection=True
    )
    assert doubled.config.double_output_projection is True


def test_paper_defaults() -> None:
    config = ibit_config_from_reference()  # IBiT as trained in the paper: 224 px, patch 16, width 192, 3 heads
    assert (config.image_size, config.patch_size, config.hidden_size, config.num_hidden_layers) == (224, 16, 192, 12)
    assert (config.num_attention_heads, config.mask_rank, config.intermediate_size) == (3, 9, 768)
    assert config.num_labels == 1000
    assert config.num_patches == 196


@pytest.mark.parametrize("prefix", ["module.", "model.", "module.model."])
def test_wrapper_prefixes_are_accepted(prefix: str) -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["3x3 grid, 3 heads, rank 4"])
    prefixed = {prefix + key: tensor for key, tensor in reference.items()}
    expected = convert_ibit_state_dict(reference)
    converted = convert_ibit_state_dict(prefixed)
    assert converted.keys() == expected.keys()
    assert all(torch.equal(converted[key], tensor) for key, tensor in expected.items())
    assert infer_ibit_hyperparameters(prefixed) == infer_ibit_hyperparameters(reference)
    convert_ibit_model(prefixed)


def test_the_pre_rename_patch_embedding_name_is_accepted() -> None:
    """The reference's `CiT` class, before the rename to `IBiT`, called its patch embedding `conv_scale_up`."""
    spec = REFERENCE_MODELS["4x4 grid, 2 heads, rank 9, mlp 3x"]
    reference = reference_state_dict(**spec, patch_module="conv_scale_up")
    assert infer_ibit_hyperparameters(reference) == expected_hyperparameters(spec)
    renamed = reference_state_dict(**spec)
    assert convert_ibit_state_dict(reference).keys() == convert_ibit_state_dict(renamed).keys()
    both = dict(reference, **{"scale_up.1.bias": renamed["scale_up.1.bias"]})
    with pytest.raises(ValueError, match="two keys"):
        convert_ibit_state_dict(both)


@pytest.mark.parametrize(
    "extra_key", ["CiTBlocks.0.attention.scale", "norm.weight", "CiTBlocks.1.MLP.1.weight", "pos_embed", "head.bias"]
)
def test_unknown_key_raises_naming_it(extra_key: str) -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["3x3 grid, 3 heads, rank 4"])
    reference[extra_key] = torch.zeros(1)
    with pytest.raises(ValueError, match=re.escape(extra_key)):
        convert_ibit_state_dict(reference)
    with pytest.raises(ValueError, match=re.escape(extra_key)):
        infer_ibit_hyperparameters(reference)


def test_a_foreign_roll_back_raises() -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["3x3 grid, 3 heads, rank 4"])
    shifted = legacy_roll_back(9)
    shifted[1:, 1:] = (shifted[1:, 1:] + 1) % 9
    with pytest.raises(ValueError, match=re.escape("CiTBlocks.1.attention.roll_back") + ".*built some other way"):
        convert_ibit_state_dict(dict(reference, **{"CiTBlocks.1.attention.roll_back": shifted}))
    corrected = legacy_roll_back(9)
    corrected[1:, 1:] += 1  # the index of a fixed reference: the class column's + 1
    with pytest.raises(ValueError, match="corrected index"):
        convert_ibit_model(dict(reference, **{"CiTBlocks.0.attention.roll_back": corrected}))
    with pytest.raises(ValueError, match="square grid"):
        convert_ibit_state_dict(dict(reference, **{"CiTBlocks.0.attention.roll_back": legacy_roll_back(8)}))


def test_incomplete_or_inconsistent_weights_raise() -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["3x3 grid, 3 heads, rank 4"])
    without_keys = {key: tensor for key, tensor in reference.items() if key != "CiTBlocks.1.attention.Linears.0.bias"}
    with pytest.raises(ValueError, match="only"):
        convert_ibit_state_dict(without_keys)
    with pytest.raises(ValueError, match="do not fit"):
        convert_ibit_model(reference, mlp_hidden_size=40)
    with pytest.raises(ValueError, match="not a linear map of 4-channel"):
        convert_ibit_state_dict(reference, num_channels=4)
    with pytest.raises(ValueError, match="square images"):
        ibit_config_from_reference(img_h=32, img_w=64, patch_size=4, d_model=12, num_heads=3)


def test_convert_script_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = reference_state_dict(**REFERENCE_MODELS["3x3 grid, 3 heads, rank 4"])
    checkpoint, output_dir = tmp_path / "model299.pt", tmp_path / "converted"
    torch.save({f"module.{key}": tensor for key, tensor in reference.items()}, checkpoint)
    convert_ibit.main(["--checkpoint", str(checkpoint), "--output_dir", str(output_dir), "--check"])
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {p.name for p in output_dir.iterdir()}
    assert "max abs logit difference 0.000e+00" in capsys.readouterr().out
    model = IBiTForImageClassification.from_pretrained(output_dir)
    for name, value in REFERENCE_SWITCHES.items():
        assert getattr(model.config, name) == value, name
    ours = model.state_dict()
    for key, tensor in convert_ibit_state_dict(reference).items():
        assert torch.equal(ours[key], tensor), key


# (b) the reference switches against the reference forward pass


def reference_forward(
    state_dict: dict[str, torch.Tensor], pixels: torch.Tensor, num_heads: int, double_output_projection: bool
) -> torch.Tensor:
    """The reference IBiT's eval-mode forward pass, restated plainly from `IBiT.py`, `IBiTBlock.py`, the LMSA layer
    and `PositionalEncodingAdd`, reading the reference state dict directly."""
    batch, channels, height, width = pixels.shape
    dim = state_dict["embedding"].numel()
    patch = math.isqrt(state_dict["scale_up.1.weight"].shape[1] // channels)

    def linear(x: torch.Tensor, name: str) -> torch.Tensor:
        return x @ state_dict[f"{name}.weight"].T + state_dict[f"{name}.bias"]

    def layer_norm(x: torch.Tensor, name: str) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        variance = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(variance + 1e-5) * state_dict[f"{name}.weight"] + state_dict[f"{name}.bias"]

    # Patchify (nn.Unfold): patches in raster order, each flattened channel-major; then the linear embedding.
    patches = [
        pixels[:, :, row : row + patch, col : col + patch].reshape(batch, -1)
        for row in range(0, height, patch)
        for col in range(0, width, patch)
    ]
    tokens = linear(torch.stack(patches, dim=1), "scale_up.1")
    tokens = torch.cat([state_dict["embedding"].expand(batch, 1, dim), tokens], dim=1)
    # PositionalEncodingAdd: positions 0..L-1 over the whole sequence, frequencies 1 / exp(linspace(0, ceil(ln L))).
    length = tokens.shape[1]
    positions = torch.arange(length, dtype=torch.float32).view(-1, 1)
    frequencies = 1 / torch.exp(torch.linspace(0, math.ceil(math.log(length)), dim // 2)).view(1, -1)
    tokens = tokens + torch.cat([torch.sin(positions @ frequencies), torch.cos(positions @ frequencies)], dim=-1)

    head_dim = dim // num_heads
    depth = len({key.split(".")[1] for key in state_dict if key.startswith("CiTBlocks.")})
    for index in range(depth):
        block = f"CiTBlocks.{index}"
        normed = layer_norm(tokens, f"{block}.BNorm1")
        keys = linear(normed, f"{block}.attention.Linears.0")
        queries = linear(normed, f"{block}.attention.Linears.1")
        values = linear(normed, f"{block}.attention.Linears.2")
        roll_back = state_dict[f"{block}.attention.roll_back"]
        heads = []
        for head in range(num_heads):
            channels_of_head = slice(head * head_dim, (head + 1) * head_dim)
            scores = queries[..., channels_of_head] @ keys[..., channels_of_head].transpose(1, 2) / math.sqrt(head_dim)
            relative = state_dict[f"{block}.attention.mask1"][head].T @ state_dict[f"{block}.attention.mask2"][head]
            mask = torch.empty(length, length)
            for query in range(length):
                for key in range(length):
                    mask[query, key] = relative[query, roll_back[query, key]]
            masked = scores * mask
            frobenius = torch.sqrt((masked**2).sum(dim=(1, 2), keepdim=True))
            heads.append(masked / (frobenius + 1e-8) @ values[..., channels_of_head])
        mixed = linear(torch.cat(heads, dim=-1), f"{block}.attention.final_linear")
        if double_output_projection:
            mixed = linear(mixed, f"{block}.attention.final_linear")
        hidden = normed + mixed  # the residual starts from the normalised input
        normed = layer_norm(hidden, f"{block}.BNorm2")
        tokens = normed + linear(F.gelu(linear(normed, f"{block}.MLP.0")), f"{block}.MLP.3")
    return linear(tokens[:, 0], "fcn.0")  # no final norm; the class token


@pytest.mark.parametrize("double_output_projection", [False, True])
@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_converted_model_computes_the_reference_forward(name: str, double_output_projection: bool) -> None:
    spec = REFERENCE_MODELS[name]
    reference = reference_state_dict(**spec)
    model = convert_ibit_model(reference, double_output_projection=double_output_projection)
    pixels = torch.randn(3, 3, spec["img_size"], spec["img_size"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference_forward(reference, pixels, spec["num_heads"], double_output_projection)
        logits = model(pixels).logits
    assert expected.abs().max().item() > 0.1
    assert (logits - expected).abs().max().item() < 1e-5


@pytest.mark.parametrize(
    ("switch", "value"),
    [
        ("legacy_mask_roll", False),
        ("residual_from_normalized", False),
        ("double_output_projection", True),
        ("final_norm", True),
        ("position_embedding", "none"),
    ],
)
def test_each_reference_switch_matters(switch: str, value: object) -> None:
    """The parity test above can tell every switch: flipping one moves the logits far beyond its tolerance."""
    spec = REFERENCE_MODELS["3x3 grid, 3 heads, rank 4"]
    reference = reference_state_dict(**spec)
    converted = convert_ibit_state_dict(reference)
    config = ibit_config_from_reference(**infer_ibit_hyperparameters(reference))
    flipped = IBiTForImageClassification(IBiTConfig(**{**config.to_diff_dict(), switch: value})).eval()
    missing, unexpected = flipped.load_state_dict(converted, strict=False)
    assert not unexpected and set(missing) <= {"backbone.norm.weight", "backbone.norm.bias"}  # final_norm=True: a norm
    pixels = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference_forward(reference, pixels, spec["num_heads"], double_output_projection=False)
        assert (flipped(pixels).logits - expected).abs().max().item() > 1e-2
