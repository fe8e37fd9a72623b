"""transformers' ViT -> IsoTransformer: configuration, state dict and whole-model conversion.

`ViTForImageClassification` and `IsoTransformerForImageClassification` (and `ViTModel` and `IsoTransformerModel`)
compute the same function (Dosovitskiy et al. 2021): a linear patch embedding, a class token, a learned position
embedding (resized bicubically by both for other image sizes), pre-norm blocks, a final LayerNorm and a linear
classifier on the class token. Only parameter names differ, and ViT's separate query/key/value projections become
our fused `qkv`, concatenated along the output dimension in the order q, k, v.

State-dict keys (`vit.` -> `backbone.` for classification checkpoints; no prefix for `ViTModel` ones; `*` is
`weight` and `bias`). Outside the layers, both layouts name them alike:

    embeddings.cls_token                        -> embeddings.cls_token
    embeddings.mask_token                       -> embeddings.mask_token
    embeddings.position_embeddings              -> embeddings.position_embedding.weight
    embeddings.patch_embeddings.projection.*    -> embeddings.patch_embedding.projection.*
    layernorm.*                                 -> norm.*
    pooler.dense.*                              -> dropped
    classifier.* (never prefixed)               -> classifier.*

In layer `{i}`: transformers 5 `layers.{i}.` | transformers 4 (Hub checkpoints) `encoder.layer.{i}.` -> `layers.{i}.`,
`D` being `hidden_size`:

    layernorm_before.*      | layernorm_before.*             -> norm1.*
    attention.q_proj.*      | attention.attention.query.*    -> token_mixer.qkv.*, rows [0, D)
    attention.k_proj.*      | attention.attention.key.*      -> token_mixer.qkv.*, rows [D, 2D)
    attention.v_proj.*      | attention.attention.value.*    -> token_mixer.qkv.*, rows [2D, 3D)
    attention.o_proj.*      | attention.output.dense.*       -> token_mixer.proj.*
    layernorm_after.*       | layernorm_after.*              -> norm2.*
    mlp.fc1.*               | intermediate.dense.*           -> mlp.fc1.*
    mlp.fc2.*               | output.dense.*                 -> mlp.fc2.*

`ViTModel`'s pooler (`tanh(dense(class token))`) feeds no classification head and has no counterpart here, so it is
dropped: for a `ViTModel` only `last_hidden_state` carries over; our `pooler_output` is the normalised class token.
"""

import re

import torch
from transformers import ViTConfig, ViTForImageClassification, ViTModel

from inductive_zoo.models.isotropic import (
    IsoTransformerConfig,
    IsoTransformerForImageClassification,
    IsoTransformerModel,
)

from .common import build_config, square_side

# ViT key -> ours for the parameters outside the layers, named alike in both layouts (model prefix stripped).
_NON_LAYER_KEYS = {
    "embeddings.cls_token": "embeddings.cls_token",
    "embeddings.mask_token": "embeddings.mask_token",
    "embeddings.position_embeddings": "embeddings.position_embedding.weight",
    "embeddings.patch_embeddings.projection.weight": "embeddings.patch_embedding.projection.weight",
    "embeddings.patch_embeddings.projection.bias": "embeddings.patch_embedding.projection.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
}
_DROPPED_KEYS = frozenset({"pooler.dense.weight", "pooler.dense.bias"})
_CLASSIFIER_KEYS = frozenset({"classifier.weight", "classifier.bias"})

# A layer parameter: `layers.{i}.<module>.<param>` (transformers 5) or `encoder.layer.{i}.<module>.<param>` (4).
_LAYER_KEY = re.compile(r"(?P<stack>layers|encoder\.layer)\.(?P<index>\d+)\.(?P<module>.+)\.(?P<param>weight|bias)")
# The parts of our fused `token_mixer.qkv`, in concatenation order.
_QKV_PARTS = ("query", "key", "value")
# Per layout (the layer stack's name), ViT layer module -> our module, or the `_QKV_PARTS` entry it fills.
_LAYER_MODULES = {
    "layers": {
        "layernorm_before": "norm1",
        "attention.q_proj": "query",
        "attention.k_proj": "key",
        "attention.v_proj": "value",
        "attention.o_proj": "token_mixer.proj",
        "layernorm_after": "norm2",
        "mlp.fc1": "mlp.fc1",
        "mlp.fc2": "mlp.fc2",
    },
    "encoder.layer": {
        "layernorm_before": "norm1",
        "attention.attention.query": "query",
        "attention.attention.key": "key",
        "attention.attention.value": "value",
        "attention.output.dense": "token_mixer.proj",
        "layernorm_after": "norm2",
        "intermediate.dense": "mlp.fc1",
        "output.dense": "mlp.fc2",
    },
}


# The fields a ViTConfig and an IsoTransformerConfig share, with the same name and meaning (both directions copy them).
SHARED_VIT_FIELDS = (
    "num_channels", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "layer_norm_eps", "qkv_bias", "initializer_range", "problem_type",
)  # fmt: skip
# Label maps, copied as plain dicts.
LABEL_FIELDS = ("id2label", "label2id")


def iso_transformer_config_from_vit(vit_config: ViTConfig) -> IsoTransformerConfig:
    """The `IsoTransformerConfig` computing the same function as a transformers `ViTConfig`.

    Copies image_size, patch_size (square: an int or an equal pair), num_channels, hidden_size, num_hidden_layers,
    num_attention_heads, intermediate_size, hidden_act, layer_norm_eps, qkv_bias, initializer_range,
    hidden_dropout_prob, attention_probs_dropout_prob, id2label, label2id and problem_type, and sets ViT's choices
    for the inductive-bias switches: `position_embedding="learned"`, `patch_embedding="linear"`, `pooling="cls"`.
    ViT's pooler and masked-image-modeling settings (`pooler_*`, `encoder_stride`) have no counterpart and are ignored.

    Raises:
        ValueError: the ViT cannot be represented (a non-square image or patch, a `head_dim` other than
            `hidden_size / num_attention_heads`, an image size not divisible by the patch size, ...).
    """
    head_dim = getattr(vit_config, "head_dim", None)
    if head_dim is not None and head_dim * vit_config.num_attention_heads != vit_config.hidden_size:
        raise ValueError(
            f"cannot convert a ViT with head_dim={head_dim}: IsoTransformer needs head_dim * num_attention_heads "
            f"== hidden_size ({vit_config.num_attention_heads} * {head_dim} != {vit_config.hidden_size})"
        )
    image_size = square_side(vit_config.image_size, "image_size", "ViT", "IsoTransformer")
    patch_size = square_side(vit_config.patch_size, "patch_size", "ViT", "IsoTransformer")
    return build_config(
        IsoTransformerConfig,
        "ViT config",
        image_size=image_size,
        patch_size=patch_size,
        # ViT allows integer dropout probabilities; ours are floats.
        hidden_dropout_prob=float(vit_config.hidden_dropout_prob),
        attention_probs_dropout_prob=float(vit_config.attention_probs_dropout_prob),
        position_embedding="learned",
        patch_embedding="linear",
        pooling="cls",
        **{name: getattr(vit_config, name) for name in SHARED_VIT_FIELDS},
        **{name: dict(getattr(vit_config, name)) for name in LABEL_FIELDS},
    )


def _target(key: str, classification: bool) -> tuple[str, str | None] | None:
    """Where a ViT key goes: `(our key, None)`, `(our qkv key, q/k/v part)`, `("", None)` to drop, `None` unknown."""
    if classification:
        if key in _CLASSIFIER_KEYS:
            return key, None
        if not key.startswith("vit."):
            return None
        key, prefix = key.removeprefix("vit."), "backbone."
    else:
        prefix = ""
    if key in _DROPPED_KEYS:
        return "", None
    if key in _NON_LAYER_KEYS:
        return prefix + _NON_LAYER_KEYS[key], None
    match = _LAYER_KEY.fullmatch(key)
    module = _LAYER_MODULES[match["stack"]].get(match["module"]) if match else None
    if module is None:
        return None
    layer = f"{prefix}layers.{match['index']}"
    if module in _QKV_PARTS:
        return f"{layer}.token_mixer.qkv.{match['param']}", module
    return f"{layer}.{module}.{match['param']}", None


def convert_vit_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Renames a transformers ViT state dict into ours (the table in this module's docstring).

    Accepts both the transformers 5 layout (`vit.layers.{i}.attention.q_proj`, `mlp.fc1`, ...) and the transformers 4
    layout of Hub checkpoints such as google/vit-base-patch16-224 (`vit.encoder.layer.{i}.attention.attention.query`,
    `intermediate.dense`, ...). Keys under `vit.` (a `ViTForImageClassification`) go under `backbone.`, with
    `classifier.*` kept as is: load the result into `IsoTransformerForImageClassification`. Unprefixed keys (a
    `ViTModel`) stay unprefixed: load the result into `IsoTransformerModel`. ViT's query, key and value projections
    are concatenated (in that order, along dim 0) into our fused `token_mixer.qkv`; ViT's pooler is dropped.
    Tensors are not copied, except the concatenated qkv ones.

    Raises:
        ValueError: keys that are not part of a ViT checkpoint (all listed), two keys mapping to the same parameter
            (mixed layouts), or a layer with only some of its query/key/value projections.
    """
    classification = any(key.startswith("vit.") for key in state_dict)
    placed: dict[tuple[str, str | None], str] = {}
    unknown = []
    for key in state_dict:
        target = _target(key, classification)
        if target is None:
            unknown.append(key)
        elif target[0]:
            if target in placed:
                raise ValueError(f"ViT keys {placed[target]!r} and {key!r} both map to {target[0]!r}")
            placed[target] = key
    if unknown:
        raise ValueError(f"cannot convert these keys of a ViT state dict, not part of a ViT checkpoint: {unknown}")

    converted: dict[str, torch.Tensor] = {}
    qkv_parts: dict[str, dict[str, torch.Tensor]] = {}
    for (ours, part), key in placed.items():
        if part is None:
            converted[ours] = state_dict[key]
        else:
            qkv_parts.setdefault(ours, {})[part] = state_dict[key]
    for ours, parts in qkv_parts.items():
        missing = [part for part in _QKV_PARTS if part not in parts]
        if missing:
            raise ValueError(f"cannot build {ours!r}: the ViT state dict lacks its {', '.join(missing)} projection")
        converted[ours] = torch.cat([parts[part] for part in _QKV_PARTS], dim=0)
    return converted


def convert_vit_model(
    vit_model: ViTForImageClassification | ViTModel,
) -> IsoTransformerForImageClassification | IsoTransformerModel:
    """The IsoTransformer equivalent of a transformers ViT, in eval mode and in the ViT's dtype.

    A `ViTForImageClassification` gives an `IsoTransformerForImageClassification` (same logits); a `ViTModel` gives an
    `IsoTransformerModel` (same `last_hidden_state`; its pooler is dropped), with a mask token when the ViT has one.
    The config comes from `iso_transformer_config_from_vit`, the weights from `convert_vit_state_dict`, loaded with
    `strict=True`.

    Raises:
        TypeError: `vit_model` is neither a `ViTForImageClassification` nor a `ViTModel`.
        ValueError: the ViT cannot be represented (see `iso_transformer_config_from_vit`, `convert_vit_state_dict`).
    """
    config = iso_transformer_config_from_vit(vit_model.config)
    if isinstance(vit_model, ViTForImageClassification):
        model = IsoTransformerForImageClassification(config)
    elif isinstance(vit_model, ViTModel):
        model = IsoTransformerModel(config, use_mask_token=vit_model.embeddings.mask_token is not None)
    else:
        raise TypeError(f"expected a ViTForImageClassification or a ViTModel, got {type(vit_model).__name__}")
    model.load_state_dict(convert_vit_state_dict(vit_model.state_dict()), strict=True)
    return model.to(vit_model.dtype).eval()
