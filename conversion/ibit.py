"""The reference IBiT (giriguy/ConvFormer, `Repo/IBiT/IBiT.py`, Giri 2025) -> `IBiTForImageClassification`.

The reference model: `nn.Unfold` patches and a linear patch embedding, a class token prepended, a fixed 1-D sin-cos
position encoding added over the whole sequence (class token at position 0), 12 blocks
`y = LN1(x); z = y + LMSA(y); out = LN2(z) + MLP(LN2(z))`, no final LayerNorm, and a linear head on the class token.
LMSA (learned masked self-attention) multiplies each head's raw scores `Q K^T / sqrt(d_head)` element-wise by a
learned rank-r mask `mask1^T mask2` (relative layout, gathered to absolute keys with the `roll_back` index) and
divides by their Frobenius norm (no softmax).

State-dict keys (reference -> ours, `*` is `weight` and `bias`, `B` the reference's `CiTBlocks.{i}`, `L` ours
`backbone.layers.{i}`, `D` the width, `C` the input channels, `p` the patch side):

    scale_up.1.*  (or conv_scale_up.1.*, the pre-rename `CiT` class)
                                -> backbone.embeddings.patch_embedding.projection.*  weight `(D, C*p*p)` reshaped
                                   to the convolution's `(D, C, p, p)` (`nn.Unfold` orders a patch channel-major)
    embedding  `(D,)`           -> backbone.embeddings.cls_token  `(1, 1, D)`
    B.BNorm1.*                  -> L.norm1.*
    B.attention.Linears.1.*     -> L.token_mixer.qkv.*  rows [0, D)    (queries)
    B.attention.Linears.0.*     -> L.token_mixer.qkv.*  rows [D, 2D)   (keys: the reference unpacks
                                                                         `keys, queries, values` from `Linears`)
    B.attention.Linears.2.*     -> L.token_mixer.qkv.*  rows [2D, 3D)  (values)
    B.attention.mask1  `(heads, r, N+1)`
                                -> L.token_mixer.mask_query_factors
    B.attention.mask2           -> L.token_mixer.mask_offset_factors
    B.attention.roll_back       -> dropped (ours is derived, non-persistent); checked to equal
                                   `roll_index(N, 1, legacy_offset=True)`, else `ValueError`
    B.attention.final_linear.*  -> L.token_mixer.proj.*
    B.BNorm2.*                  -> L.norm2.*
    B.MLP.0.*                   -> L.mlp.fc1.*
    B.MLP.3.*                   -> L.mlp.fc2.*  (`MLP.1` and `MLP.4` are dropouts, `MLP.2` the GELU)
    fcn.0.*                     -> classifier.*

A `module.` (DistributedDataParallel) or `model.` prefix shared by every key is removed first. The reference training
script (`TrainFunctions/train_IBiT.py`) saves plain state dicts (`model{epoch}.pt`).

The reference's departures from the clean IBiT design, each a switch of `IBiTConfig` that
`ibit_config_from_reference` sets:

    legacy_mask_roll=True           its roll index lacks the `+ 1` for the class-token column: every patch kernel is
                                    centred one position to the right
    residual_from_normalized=True   its blocks add each branch to the normalised input
    drop_path_on_mlp=False          stochastic depth on the attention branch only
    final_norm=False                no LayerNorm after the last block
    position_embedding="sequence_sincos"
                                    `PositionalEncodingAdd`: 1-D sin-cos over the whole sequence, class token first
    layer_norm_eps=1e-5             `nn.LayerNorm`'s default
    qkv_bias=True, pooling="cls", patch_embedding="linear", mask_kernel="exponential", mask_kernel_scale=0.5,
    mask_epsilon=1e-8, hidden_act="gelu" (exact)
    double_output_projection        a keyword, False by default (see below)

The output projection. The committed `IBiT/IBiTBlock.py` still imports `MultiScaledConvHead` from
`ConvFormer/LMSA_layer.py`, whose only committed version (the initial commit) applies `final_linear` twice when
`include_fcn=True`, but it does not accept the `store_att` and `att_store_list` arguments that `IBiTBlock` passes, so
the committed code cannot have run against it: the final commit moved that file to `IBiT/LMSA_layer.py`, which applies
`final_linear` once, and the author's own compiled `ConvFormer/LMSA_layer.py` (committed under
`Repo/IBiT/__pycache__/`, compiled 2025-07-09 and 2025-09-08, before the released checkpoints) applies it once too.
So the released checkpoints were trained with a single projection, the default here; pass
`double_output_projection=True` for a model built with the initial commit's layer.

Training-only differences that eval-mode outputs do not see: the reference's stochastic depth has the same rate (0.1)
in every block, ours grows linearly from 0 to `drop_path_rate`; its MLP drops out before the GELU and after `fc2`,
ours after the GELU, after each residual branch and after the embeddings (`hidden_dropout_prob`).
"""

import inspect
import math
import re
from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
from torch import nn

from inductive_zoo.models.ibit import IBiTConfig, IBiTForImageClassification, roll_index

from .common import (
    block_depth,
    build_config,
    load_converted_weights,
    reference_weights,
    required_tensor,
    set_num_labels,
    strip_wrapper_prefixes,
)

_BLOCK_KEY = re.compile(r"CiTBlocks\.(?P<index>0|[1-9]\d*)\.(?P<name>.+)")
_PATCH_KEY = re.compile(r"(?:conv_)?scale_up\.1\.(?P<param>weight|bias)")
_NON_BLOCK_KEYS = {
    "embedding": "backbone.embeddings.cls_token",
    "fcn.0.weight": "classifier.weight",
    "fcn.0.bias": "classifier.bias",
}
# Block parameters renamed one to one: reference name (after `CiTBlocks.{i}.`) -> ours (after `layers.{i}.`).
_BLOCK_PARAMETERS = {
    f"{reference}.{param}": f"{ours}.{param}"
    for reference, ours in (
        ("BNorm1", "norm1"),
        ("BNorm2", "norm2"),
        ("MLP.0", "mlp.fc1"),
        ("MLP.3", "mlp.fc2"),
        ("attention.final_linear", "token_mixer.proj"),
    )
    for param in ("weight", "bias")
}
_BLOCK_PARAMETERS.update(
    {"attention.mask1": "token_mixer.mask_query_factors", "attention.mask2": "token_mixer.mask_offset_factors"}
)
# `attention.Linears.{j}.*`: the reference's j -> position in our fused qkv (queries, keys, values).
_LINEARS = re.compile(r"attention\.Linears\.(?P<index>[0-2])\.(?P<param>weight|bias)")
_QKV_POSITION = {1: 0, 0: 1, 2: 2}
_ROLL_BACK = "attention.roll_back"

# IBiT at 224 pixels as trained in the paper (`TrainingLoops/IBiTTrainingLoop.py`), the defaults of
# `ibit_config_from_reference`; names are the reference `IBiT(...)`'s arguments, plus `depth` and `mlp_hidden_size`
# (fixed there to 12 and 4 * d_model).


def ibit_config_from_reference(
    *,
    img_h: int = 224,
    img_w: int = 224,
    patch_size: int = 16,
    d_model: int = 192,
    num_heads: int = 3,
    mask_fidelity: int = 9,
    num_classes: int = 1000,
    channels: int = 3,
    depth: int = 12,
    mlp_hidden_size: int | None = None,
    dropout_p: float = 0.0,
    stochastic_depth_prob: float = 0.1,
    layer_norm_eps: float = 1e-5,
    double_output_projection: bool = False,
    **config_kwargs: Any,
) -> IBiTConfig:
    """The `IBiTConfig` computing the same function as the reference `IBiT(img_h, img_w, patch_size, d_model,
    mask_fidelity, dropout_p, channels=channels, num_classes=num_classes, num_heads=num_heads)`, with every reference
    switch set (see the module docstring).

    `mask_fidelity` is the mask rank. `depth` and `mlp_hidden_size` (default `4 * d_model`) are fixed in the reference
    (12 and `4 * d_model`) but read from the weights by `infer_ibit_hyperparameters`. `dropout_p` becomes
    `hidden_dropout_prob` (0.0 as in the paper's training run; the reference constructor's default is 0.01) and
    `stochastic_depth_prob` `drop_path_rate`; both matter only for training. Further keyword arguments (`id2label`,
    ...) go to `IBiTConfig`.

    Raises:
        ValueError: the reference model cannot be represented (a non-square image: `IBiTConfig` has one side).
    """
    if img_h != img_w:
        raise ValueError(f"cannot convert an IBiT with img_h={img_h} != img_w={img_w}: IBiTConfig has square images")
    set_num_labels(config_kwargs, num_classes)
    return build_config(
        IBiTConfig,
        "IBiT",
        image_size=img_h,
        patch_size=patch_size,
        num_channels=channels,
        hidden_size=d_model,
        num_hidden_layers=depth,
        num_attention_heads=num_heads,
        intermediate_size=4 * d_model if mlp_hidden_size is None else mlp_hidden_size,
        hidden_act="gelu",
        hidden_dropout_prob=float(dropout_p),
        attention_probs_dropout_prob=0.0,
        drop_path_rate=float(stochastic_depth_prob),
        layer_norm_eps=float(layer_norm_eps),
        qkv_bias=True,
        mask_rank=mask_fidelity,
        mask_kernel="exponential",
        mask_kernel_scale=0.5,
        mask_epsilon=1e-8,
        position_embedding="sequence_sincos",
        patch_embedding="linear",
        pooling="cls",
        final_norm=False,
        legacy_mask_roll=True,
        residual_from_normalized=True,
        drop_path_on_mlp=False,
        double_output_projection=bool(double_output_projection),
        **config_kwargs,
    )


def _check_roll_back(key: str, roll_back: torch.Tensor) -> None:
    """`roll_back` must be the reference's legacy index for its grid (what `gen_radial(..., append_cls=True)` gives)."""
    length = roll_back.shape[-1]
    side = math.isqrt(max(length - 1, 0))
    if roll_back.shape != (length, length) or side * side != length - 1 or side == 0:
        raise ValueError(
            f"{key} has shape {tuple(roll_back.shape)}, not (N + 1, N + 1) for a square grid of N patches and a class "
            "token: this checkpoint was built some other way"
        )
    expected = roll_index(length - 1, 1, legacy_offset=True)
    if not torch.equal(roll_back.to(device="cpu", dtype=torch.long), expected):
        corrected = torch.equal(roll_back.to(device="cpu", dtype=torch.long), roll_index(length - 1, 1))
        detail = (
            " (it is the corrected index, with the class column's + 1: not the released reference code)"
            if corrected
            else ""
        )
        raise ValueError(
            f"{key} differs from the reference's roll index for a {side}x{side} grid with a class token{detail}: "
            "this checkpoint was built some other way, and IBiTConfig(legacy_mask_roll=True) would not reproduce it"
        )


def convert_ibit_state_dict(state_dict: Mapping[str, torch.Tensor], num_channels: int = 3) -> dict[str, torch.Tensor]:
    """Renames a reference IBiT state dict into ours, for `IBiTForImageClassification` (the table in this module's
    docstring): the three attention `Linears` are concatenated into `qkv` (queries, keys, values), the patch
    embedding is reshaped to a convolution kernel for `num_channels` input channels, the class token to `(1, 1, D)`,
    and every `roll_back` buffer is checked and dropped. A `module.` or `model.` prefix on every key is removed first.

    Raises:
        ValueError: keys that are not part of a reference IBiT (all listed), an incomplete attention block, a patch
            embedding that does not fit `num_channels`, or a `roll_back` other than the reference's.
    """
    state_dict = strip_wrapper_prefixes(state_dict)
    converted: dict[str, torch.Tensor] = {}
    qkv_parts: dict[tuple[int, str], dict[int, torch.Tensor]] = {}
    unknown = []

    def put(target: str, tensor: torch.Tensor, key: str) -> None:
        if target in converted:
            raise ValueError(f"two keys of this IBiT state dict map to {target!r}, the last one {key!r}")
        converted[target] = tensor

    for key, tensor in state_dict.items():
        if key in _NON_BLOCK_KEYS:
            target = _NON_BLOCK_KEYS[key]
            put(target, tensor.reshape(1, 1, -1) if key == "embedding" else tensor, key)
            continue
        if match := _PATCH_KEY.fullmatch(key):
            target = f"backbone.embeddings.patch_embedding.projection.{match['param']}"
            if match["param"] == "weight":
                in_features = tensor.shape[-1]
                patch = math.isqrt(in_features // num_channels)
                if tensor.ndim != 2 or num_channels * patch * patch != in_features:
                    raise ValueError(
                        f"{key} of shape {tuple(tensor.shape)} is not a linear map of {num_channels}-channel square "
                        "patches (pass num_channels for other inputs)"
                    )
                tensor = tensor.reshape(tensor.shape[0], num_channels, patch, patch)
            put(target, tensor, key)
            continue
        match = _BLOCK_KEY.fullmatch(key)
        if match is None:
            unknown.append(key)
            continue
        index, name = int(match["index"]), match["name"]
        layer = f"backbone.layers.{index}"
        if name in _BLOCK_PARAMETERS:
            put(f"{layer}.{_BLOCK_PARAMETERS[name]}", tensor, key)
        elif linear := _LINEARS.fullmatch(name):
            qkv_parts.setdefault((index, linear["param"]), {})[_QKV_POSITION[int(linear["index"])]] = tensor
        elif name == _ROLL_BACK:
            _check_roll_back(key, tensor)
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"cannot convert these keys of an IBiT state dict, not part of a reference IBiT: {unknown}")
    for (index, param), parts in sorted(qkv_parts.items()):
        if len(parts) != 3:
            names = [f"CiTBlocks.{index}.attention.Linears.{j}.{param}" for j, p in _QKV_POSITION.items() if p in parts]
            raise ValueError(f"block {index} holds only {names} of its three attention Linears' {param}s")
        qkv = torch.cat([parts[p] for p in range(3)])
        put(f"backbone.layers.{index}.token_mixer.qkv.{param}", qkv, f"CiTBlocks.{index}.attention.Linears.*.{param}")
    return converted


def infer_ibit_hyperparameters(state_dict: Mapping[str, torch.Tensor], channels: int = 3) -> dict[str, Any]:
    """The reference hyperparameters that an IBiT state dict determines, named as `ibit_config_from_reference`'s
    arguments: `d_model` (the class token), `depth` (the blocks), `num_heads`, `mask_fidelity` (the rank) and the
    sequence length `N + 1` (from `mask1`'s shape `(heads, r, N + 1)`), `patch_size` (from the patch embedding's
    `channels * p * p` input features; the weights do not record `channels`: 3 unless told), `img_h = img_w =
    sqrt(N) * patch_size`, `mlp_hidden_size` (`MLP.0`) and `num_classes` (`fcn.0`, 0 without).

    Raises:
        ValueError: the state dict is not a reference IBiT's (unknown keys, a wrong `roll_back`, missing tensors), or
            its shapes disagree (a non-square grid, masks of different shapes, ...).
    """
    state_dict = strip_wrapper_prefixes(state_dict)
    convert_ibit_state_dict(state_dict, num_channels=channels)  # rejects unknown keys and foreign roll indices

    def tensor(key: str) -> torch.Tensor:
        return required_tensor(state_dict, key, "IBiT")

    depth = block_depth(state_dict, _BLOCK_KEY, "IBiT")
    d_model = tensor("embedding").numel()
    masks = {
        tuple(tensor(f"CiTBlocks.{i}.attention.{name}").shape) for i in range(depth) for name in ("mask1", "mask2")
    }
    if len(masks) != 1 or len(next(iter(masks))) != 3:
        raise ValueError(f"the masks of this IBiT must all have one shape (heads, rank, N + 1), got {sorted(masks)}")
    num_heads, rank, length = next(iter(masks))
    side = math.isqrt(max(length - 1, 0))
    if side * side != length - 1 or side == 0:
        raise ValueError(f"the masks cover {length} tokens, not a class token and a square grid of patches")
    patch_key = next((key for key in ("scale_up.1.weight", "conv_scale_up.1.weight") if key in state_dict), None)
    if patch_key is None:
        raise ValueError("this IBiT state dict lacks 'scale_up.1.weight' (the patch embedding)")
    patch_size = math.isqrt(state_dict[patch_key].shape[-1] // channels)
    hyperparameters: dict[str, Any] = dict(
        img_h=side * patch_size,
        img_w=side * patch_size,
        patch_size=patch_size,
        d_model=d_model,
        num_heads=num_heads,
        mask_fidelity=rank,
        channels=channels,
        depth=depth,
        mlp_hidden_size=tensor("CiTBlocks.0.MLP.0.weight").shape[0],
        num_classes=state_dict["fcn.0.weight"].shape[0] if "fcn.0.weight" in state_dict else 0,
    )
    return hyperparameters


def _module_hyperparameters(model: nn.Module) -> dict[str, Any]:
    """What a reference `IBiT` module tells beyond its weights: LayerNorm epsilon, dropout and stochastic depth
    rates (missing attributes are left out)."""
    found: dict[str, Any] = {}
    blocks = getattr(model, "CiTBlocks", None)
    if not isinstance(blocks, nn.Sequential) or not len(blocks):
        return found
    block = blocks[0]
    if isinstance(getattr(block, "BNorm1", None), nn.LayerNorm):
        found["layer_norm_eps"] = block.BNorm1.eps
    mlp = getattr(block, "MLP", None)
    if isinstance(mlp, nn.Sequential) and len(mlp) > 1 and isinstance(mlp[1], nn.Dropout):
        found["dropout_p"] = mlp[1].p
    if isinstance(getattr(getattr(block, "stochastic_depth", None), "p", None), float):
        found["stochastic_depth_prob"] = block.stochastic_depth.p
    return found


def convert_ibit_model(
    reference: nn.Module | Mapping[str, torch.Tensor], **hyperparameters: Any
) -> IBiTForImageClassification:
    """The `IBiTForImageClassification` equivalent of a reference IBiT, in eval mode and in its dtype.

    `reference` is a reference `IBiT` module or a state dict of one. Hyperparameters come from, by increasing
    precedence: `ibit_config_from_reference`'s defaults, the weights (`infer_ibit_hyperparameters`), the module's
    attributes (LayerNorm epsilon, dropout and stochastic depth rates) and `hyperparameters` (keyword arguments of
    `ibit_config_from_reference`: `channels` for non-RGB inputs, `double_output_projection=True` for a model built
    with the initial commit's LMSA layer, `id2label`, ...). Weights are loaded with `strict=True`.

    Raises:
        ValueError: the reference cannot be represented, or the weights do not fit the hyperparameters.
    """
    state_dict, found = reference_weights(reference, _module_hyperparameters)
    channels = hyperparameters.get(
        "channels", inspect.signature(ibit_config_from_reference).parameters["channels"].default
    )
    inferred = infer_ibit_hyperparameters(state_dict, channels=channels)
    config = ibit_config_from_reference(**{**inferred, **found, **hyperparameters})
    model = IBiTForImageClassification(config)
    convert = partial(convert_ibit_state_dict, num_channels=config.num_channels)
    return load_converted_weights(model, state_dict, convert, "IBiT", errors=(RuntimeError, ValueError))
