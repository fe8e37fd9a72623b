"""The reference ConViT (facebookresearch/convit, timm's `convit_*`) -> `ConViTForImageClassification`.

Both compute the same function (d'Ascoli et al. 2021): a linear patch embedding plus a learned position embedding on
the patches only, `local_up_to_layer` pre-norm blocks of gated positional self-attention (GPSA) on the patch tokens,
then the class token joins (without a position) and plain self-attention blocks follow; a final LayerNorm and a linear
head on the class token. GPSA's relative positions `(dx, dy, dx^2 + dy^2)` and the head order of its local
initialisation are the same in both, so no tensor is reshaped or permuted: only names change, and facebookresearch's
`convit.py` and timm's `convit.py` name them alike.

State-dict keys (reference -> ours, `*` is `weight` and `bias`):

    patch_embed.proj.*                  -> backbone.embeddings.patch_embedding.projection.*
    cls_token                           -> backbone.embeddings.cls_token
    pos_embed                           -> backbone.embeddings.position_embedding.weight  (1)
    blocks.{i}.norm1.*                  -> backbone.layers.{i}.norm1.*
    blocks.{i}.attn.qk.*                -> backbone.layers.{i}.token_mixer.qk.*           (GPSA, i < local_up_to_layer)
    blocks.{i}.attn.v.*                 -> backbone.layers.{i}.token_mixer.v.*            (GPSA)
    blocks.{i}.attn.pos_proj.*          -> backbone.layers.{i}.token_mixer.pos_proj.*     (GPSA)
    blocks.{i}.attn.gating_param        -> backbone.layers.{i}.token_mixer.gating_param   (GPSA)
    blocks.{i}.attn.qkv.*               -> backbone.layers.{i}.token_mixer.qkv.*          (self-attention)
    blocks.{i}.attn.proj.*              -> backbone.layers.{i}.token_mixer.proj.*
    blocks.{i}.norm2.*                  -> backbone.layers.{i}.norm2.*
    blocks.{i}.mlp.fc1.*                -> backbone.layers.{i}.mlp.fc1.*
    blocks.{i}.mlp.fc2.*                -> backbone.layers.{i}.mlp.fc2.*
    norm.*                              -> backbone.norm.*
    head.*                              -> classifier.*                                   (absent if num_classes=0)

(1) `(1, num_patches, hidden_size)` in both. Only when there is no GPSA block (`local_up_to_layer=0`) does our class
token join at the input, where our embedding has a row for it: a zero row is prepended (the reference adds no position
to the class token).

A `module.` (DistributedDataParallel) or `model.` prefix shared by every key is removed first; the reference training
script saves `{"model": state_dict, "optimizer": ...}`, which `unwrap_convit_checkpoint` opens.

Hyperparameters: the reference's are named as in its `VisionTransformer` (`img_size`, `patch_size`, `in_chans`,
`num_classes`, `embed_dim`, `depth`, `num_heads`, `mlp_ratio`, `qkv_bias`, `qk_scale`, `drop_rate`, `attn_drop_rate`,
`drop_path_rate`, `local_up_to_layer`, `locality_strength`, `use_pos_embed`) plus `layer_norm_eps`; most can be read
from a state dict (`infer_convit_hyperparameters`), the rest (`locality_strength`, which only matters for
initialisation, the dropout rates and `layer_norm_eps`) cannot. The released `convit_tiny/small/base` (both in
facebookresearch's `models.py` and in timm) use LayerNorm epsilon 1e-6, the default here; a bare
`convit.VisionTransformer` keeps `nn.LayerNorm`'s 1e-5.
"""

import math
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from inductive_zoo.models.convit import ConViTConfig, ConViTForImageClassification

from .common import CHECKPOINT_ENTRIES as CHECKPOINT_ENTRIES
from .common import WRAPPER_PREFIXES as WRAPPER_PREFIXES
from .common import (
    block_depth,
    build_config,
    load_converted_weights,
    reference_weights,
    required_tensor,
    set_num_labels,
    square_side,
    strip_wrapper_prefixes,
    unwrap_checkpoint,
)

_NON_BLOCK_KEYS = {
    "patch_embed.proj.weight": "backbone.embeddings.patch_embedding.projection.weight",
    "patch_embed.proj.bias": "backbone.embeddings.patch_embedding.projection.bias",
    "cls_token": "backbone.embeddings.cls_token",
    "pos_embed": "backbone.embeddings.position_embedding.weight",
    "norm.weight": "backbone.norm.weight",
    "norm.bias": "backbone.norm.bias",
    "head.weight": "classifier.weight",
    "head.bias": "classifier.bias",
}
_BLOCK_KEY = re.compile(r"blocks\.(?P<index>0|[1-9]\d*)\.(?P<name>.+)")
# Block parameters named alike in both layouts.
_BLOCK_PARAMETERS = frozenset(
    f"{module}.{param}" for module in ("norm1", "norm2", "mlp.fc1", "mlp.fc2") for param in ("weight", "bias")
)
# Attention parameters (after `attn.`), named alike in both layouts (after `token_mixer.`).
_GPSA_PARAMETERS = frozenset(
    {"gating_param"} | {f"{module}.{param}" for module in ("qk", "v", "pos_proj") for param in ("weight", "bias")}
)
_ATTENTION_PARAMETERS = _GPSA_PARAMETERS | {"qkv.weight", "qkv.bias", "proj.weight", "proj.bias"}

# ConViT-Ti at 224 pixels, the defaults of `convit_config_from_reference` (timm's `convit_tiny`).


def _mlp_hidden_size(embed_dim: int, mlp_ratio: float) -> int:
    """`int(embed_dim * mlp_ratio)` as the reference, robust to a ratio that was itself computed as `hidden / dim`."""
    product = embed_dim * mlp_ratio
    nearest = round(product)
    return nearest if abs(product - nearest) < 1e-6 else int(product)


def convit_config_from_reference(
    *,
    img_size: int | tuple[int, int] = 224,
    patch_size: int | tuple[int, int] = 16,
    in_chans: int = 3,
    num_classes: int = 1000,
    embed_dim: int = 192,
    depth: int = 12,
    num_heads: int = 4,
    mlp_ratio: float = 4.0,
    qkv_bias: bool = False,
    qk_scale: float | None = None,
    drop_rate: float = 0.0,
    attn_drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    local_up_to_layer: int = 10,
    locality_strength: float = 1.0,
    use_pos_embed: bool = True,
    layer_norm_eps: float = 1e-6,
    **config_kwargs: Any,
) -> ConViTConfig:
    """The `ConViTConfig` computing the same function as the reference `VisionTransformer(...)` (facebookresearch)
    or `ConViT(...)` (timm) built with these arguments.

    `embed_dim` is the token width, as the argument of facebookresearch's `VisionTransformer`; the `convit_*`
    factories and timm's `ConViT` take a width per head and multiply it by `num_heads` (48 x 4 = 192 for ConViT-Ti):
    pass the product. The defaults are ConViT-Ti at 224 pixels; `layer_norm_eps` stands for the reference's
    `norm_layer` (1e-6 in the released models, 1e-5 for a bare `VisionTransformer`). `drop_rate` becomes
    `hidden_dropout_prob` (the reference drops after the position embedding, each residual branch and the MLP's
    activation, as our blocks do). Further keyword arguments (`id2label`, ...) go to `ConViTConfig`.

    Raises:
        ValueError: the reference model cannot be represented: non-square images or patches, a `qk_scale` other than
            `head_dim ** -0.5`, `local_up_to_layer >= depth` (the reference then classifies a patch token), ...
    """
    image_size = int(square_side(img_size, "img_size", "ConViT", "ConViTConfig"))
    patch = int(square_side(patch_size, "patch_size", "ConViT", "ConViTConfig"))
    if qk_scale is not None and num_heads and embed_dim % num_heads == 0:
        expected = (embed_dim // num_heads) ** -0.5
        if not math.isclose(qk_scale, expected, rel_tol=1e-6):
            raise ValueError(
                f"cannot convert a ConViT with qk_scale={qk_scale}: ConViTConfig scales attention by "
                f"head_dim ** -0.5 = {expected}"
            )
    set_num_labels(config_kwargs, num_classes)
    return build_config(
        ConViTConfig,
        "ConViT",
        image_size=image_size,
        patch_size=patch,
        num_channels=in_chans,
        hidden_size=embed_dim,
        num_hidden_layers=depth,
        num_attention_heads=num_heads,
        intermediate_size=_mlp_hidden_size(embed_dim, mlp_ratio),
        hidden_act="gelu",
        hidden_dropout_prob=float(drop_rate),
        attention_probs_dropout_prob=float(attn_drop_rate),
        drop_path_rate=float(drop_path_rate),
        layer_norm_eps=float(layer_norm_eps),
        initializer_range=0.02,
        qkv_bias=bool(qkv_bias),
        local_up_to_layer=local_up_to_layer,
        locality_strength=float(locality_strength),
        use_local_init=True,
        position_embedding="learned" if use_pos_embed else "none",
        patch_embedding="linear",
        pooling="cls",
        **config_kwargs,
    )


# The model state dict in a loaded checkpoint (the same for every reference layout; see `common.unwrap_checkpoint`).
unwrap_convit_checkpoint = unwrap_checkpoint


def _target(key: str) -> str | None:
    """Our name for a reference key (prefixes stripped), `None` if it is not a ConViT parameter."""
    if key in _NON_BLOCK_KEYS:
        return _NON_BLOCK_KEYS[key]
    match = _BLOCK_KEY.fullmatch(key)
    if match is None:
        return None
    layer, name = f"backbone.layers.{match['index']}", match["name"]
    if name in _BLOCK_PARAMETERS:
        return f"{layer}.{name}"
    attention = name.removeprefix("attn.")
    if attention != name and attention in _ATTENTION_PARAMETERS:
        return f"{layer}.token_mixer.{attention}"
    return None


def _gpsa_blocks(state_dict: Mapping[str, torch.Tensor]) -> set[int]:
    """Indices of the blocks holding GPSA parameters."""
    blocks = set()
    for key in state_dict:
        match = _BLOCK_KEY.fullmatch(key)
        if match and match["name"].startswith("attn.") and match["name"][len("attn.") :] in _GPSA_PARAMETERS:
            blocks.add(int(match["index"]))
    return blocks


def convert_convit_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Renames a reference ConViT state dict (facebookresearch or timm layout) into ours, for
    `ConViTForImageClassification` (the table in this module's docstring).

    A `module.` or `model.` prefix on every key is removed first. Tensors are not copied, except the position
    embedding of a model without GPSA blocks (a zero row is prepended for the class token, see the module docstring).

    Raises:
        ValueError: keys that are not part of a reference ConViT (all listed): a hybrid CNN backbone, relative
            position tables of another model, optimizer entries of an unopened checkpoint, ...
    """
    state_dict = strip_wrapper_prefixes(state_dict)
    converted: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in state_dict.items():
        target = _target(key)
        if target is None:
            unknown.append(key)
        else:
            converted[target] = tensor
    if unknown:
        raise ValueError(f"cannot convert these keys of a ConViT state dict, not part of a reference ConViT: {unknown}")
    position = "backbone.embeddings.position_embedding.weight"
    if position in converted and not _gpsa_blocks(state_dict):
        table = converted[position]
        converted[position] = torch.cat([table.new_zeros(table.shape[0], 1, table.shape[2]), table], dim=1)
    return converted


def infer_convit_hyperparameters(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The reference hyperparameters that a ConViT state dict determines, named as `convit_config_from_reference`'s
    arguments: `in_chans`, `embed_dim`, `patch_size` (from `patch_embed.proj`), `depth` (the blocks),
    `local_up_to_layer` (the blocks with `attn.qk`), `num_heads` (the length of `gating_param`; only with a GPSA
    block), `mlp_ratio` (from `mlp.fc1`), `qkv_bias` (`attn.qk.bias` / `attn.qkv.bias`), `use_pos_embed` and
    `img_size` (from the number of patches of `pos_embed`; only with one), `num_classes` (`head`, 0 without).
    `locality_strength`, the dropout rates and `layer_norm_eps` leave no trace in the weights.

    Raises:
        ValueError: the state dict is not a ConViT's, or describes one that ConViTConfig cannot represent
            (GPSA blocks that are not the first ones, missing blocks, a bias in only some attention layers, ...).
    """
    state_dict = strip_wrapper_prefixes(state_dict)
    convert_convit_state_dict(state_dict)  # rejects unknown keys

    def tensor(key: str) -> torch.Tensor:
        return required_tensor(state_dict, key, "ConViT")

    projection = tensor("patch_embed.proj.weight")
    if projection.ndim != 4 or projection.shape[2] != projection.shape[3]:
        raise ValueError(f"patch_embed.proj.weight must be a square convolution kernel, got {tuple(projection.shape)}")
    embed_dim, in_chans, patch_size = projection.shape[0], projection.shape[1], projection.shape[2]
    hyperparameters: dict[str, Any] = dict(in_chans=in_chans, embed_dim=embed_dim, patch_size=patch_size)

    depth = block_depth(state_dict, _BLOCK_KEY, "ConViT")
    gpsa = _gpsa_blocks(state_dict)
    local_up_to_layer = len(gpsa)
    if gpsa != set(range(local_up_to_layer)):
        raise ValueError(f"the GPSA blocks must be the first ones, got GPSA in blocks {sorted(gpsa)} of {depth}")
    hyperparameters.update(depth=depth, local_up_to_layer=local_up_to_layer)
    if local_up_to_layer:
        hyperparameters["num_heads"] = tensor("blocks.0.attn.gating_param").numel()

    hidden = tensor("blocks.0.mlp.fc1.weight").shape[0]
    hyperparameters["mlp_ratio"] = hidden / embed_dim
    biases = {f"blocks.{index}.attn.{'qk' if index in gpsa else 'qkv'}.bias" in state_dict for index in range(depth)}
    if len(biases) > 1:
        raise ValueError("only some attention layers of this ConViT have a query/key/value bias")
    hyperparameters["qkv_bias"] = biases.pop()

    hyperparameters["use_pos_embed"] = "pos_embed" in state_dict
    if "pos_embed" in state_dict:
        num_patches = state_dict["pos_embed"].shape[-2]
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(f"pos_embed holds {num_patches} positions, not a square grid of patches")
        hyperparameters["img_size"] = side * patch_size
    hyperparameters["num_classes"] = state_dict["head.weight"].shape[0] if "head.weight" in state_dict else 0
    return hyperparameters


def _module_hyperparameters(model: nn.Module) -> dict[str, Any]:
    """What a reference module tells beyond its weights: image size, locality strength, LayerNorm epsilon, scale
    and dropout rates (attributes of facebookresearch's `VisionTransformer` and timm's `ConViT`; missing ones are
    left out)."""
    found: dict[str, Any] = {}
    patch_embed = getattr(model, "patch_embed", None)
    if getattr(patch_embed, "img_size", None) is not None:
        found["img_size"] = patch_embed.img_size
    if isinstance(getattr(model, "locality_strength", None), (int, float)):
        found["locality_strength"] = model.locality_strength
    if isinstance(getattr(model, "norm", None), nn.LayerNorm):
        found["layer_norm_eps"] = model.norm.eps
    if isinstance(getattr(model, "pos_drop", None), nn.Dropout):
        found["drop_rate"] = model.pos_drop.p
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.ModuleList) and len(blocks):
        attention = getattr(blocks[0], "attn", None)
        if isinstance(getattr(attention, "scale", None), float):
            found["qk_scale"] = attention.scale
        if isinstance(getattr(attention, "attn_drop", None), nn.Dropout):
            found["attn_drop_rate"] = attention.attn_drop.p
        drop_path = getattr(blocks[-1], "drop_path", None)
        if isinstance(getattr(drop_path, "drop_prob", None), float):
            found["drop_path_rate"] = drop_path.drop_prob
    return found


def convert_convit_model(
    reference: nn.Module | Mapping[str, torch.Tensor], **hyperparameters: Any
) -> ConViTForImageClassification:
    """The `ConViTForImageClassification` equivalent of a reference ConViT, in eval mode and in its dtype.

    `reference` is a facebookresearch `VisionTransformer` or timm `ConViT` module, or a state dict of either.
    Hyperparameters come from, by increasing precedence: `convit_config_from_reference`'s defaults, the weights
    (`infer_convit_hyperparameters`), the module's attributes (image size, `locality_strength`, LayerNorm epsilon,
    attention scale, dropout rates) and `hyperparameters` (keyword arguments of `convit_config_from_reference`, for
    example `layer_norm_eps=1e-5` for a state dict of a bare `VisionTransformer`). Weights are loaded with
    `strict=True`; a model without head (`num_classes=0`) gives `num_labels=0` and an identity classifier.

    Raises:
        ValueError: the reference cannot be represented, or the weights do not fit the hyperparameters.
    """
    state_dict, found = reference_weights(reference, _module_hyperparameters)
    config = convit_config_from_reference(**{**infer_convit_hyperparameters(state_dict), **found, **hyperparameters})
    model = ConViTForImageClassification(config)
    return load_converted_weights(model, state_dict, convert_convit_state_dict, "ConViT")
