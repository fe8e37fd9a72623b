"""IsoTransformer -> transformers' ViT: the inverse of `inductive_zoo.conversion.vit`, for Hub repositories that
hosted inference and users without our package can run as a transformers-native architecture.

An `IsoTransformerForImageClassification` computes exactly a `ViTForImageClassification` when its inductive-bias
switches are ViT's (learned position embedding, linear patch embedding, class-token pooling, a final LayerNorm) and it
has no stochastic depth, which ViT lacks. The export maps the weights back through the tables of
`inductive_zoo.conversion.vit` (our fused `qkv` split into ViT's query, key and value) and checks that both models give
the same logits before anything is saved.
"""

import torch
from transformers import ViTConfig, ViTForImageClassification

from ..conversion.vit import _LAYER_MODULES, _NON_LAYER_KEYS, _QKV_PARTS, LABEL_FIELDS, SHARED_VIT_FIELDS
from ..models.isotropic import IsoTransformerConfig, IsoTransformerForImageClassification

# The config values an IsoTransformer must have to be a ViT, by field.
VIT_SETTINGS = {
    "position_embedding": "learned",
    "patch_embedding": "linear",
    "pooling": "cls",
    "final_norm": True,
    "drop_path_rate": 0.0,
}
# Largest absolute logit difference accepted between the IsoTransformer and its ViT export.
EXPORT_TOLERANCE = 1e-5


class NotTransformersNativeError(ValueError):
    """The model is not exactly a transformers architecture, so it cannot be exported as one."""


def vit_config_from_iso_transformer(config: IsoTransformerConfig) -> ViTConfig:
    """The `ViTConfig` computing the same function as an IsoTransformer config with ViT's settings.

    Raises:
        NotTransformersNativeError: the config is not an `IsoTransformerConfig`, or a field differs from
            `VIT_SETTINGS` (the message names it).
    """
    if not isinstance(config, IsoTransformerConfig):
        raise NotTransformersNativeError(
            f"only IsoTransformer has a transformers-native equivalent (ViT); {type(config).__name__} needs "
            "inductive_zoo or trust_remote_code=True"
        )
    for name, value in VIT_SETTINGS.items():
        if getattr(config, name) != value:
            raise NotTransformersNativeError(
                f"this IsoTransformer is not a ViT: {name}={getattr(config, name)!r}, ViT has {name}={value!r}"
            )
    return ViTConfig(
        image_size=config.image_size,
        patch_size=config.patch_size,
        hidden_dropout_prob=config.hidden_dropout_prob,
        attention_probs_dropout_prob=config.attention_probs_dropout_prob,
        **{name: getattr(config, name) for name in SHARED_VIT_FIELDS},
        **{name: dict(getattr(config, name)) for name in LABEL_FIELDS},
    )


def is_transformers_native(config: object) -> bool:
    """Whether `vit_config_from_iso_transformer` accepts `config` (an IsoTransformer with ViT's settings)."""
    try:
        vit_config_from_iso_transformer(config)
    except NotTransformersNativeError:
        return False
    return True


def vit_state_dict_from_iso_transformer(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Renames an `IsoTransformerForImageClassification` state dict into `ViTForImageClassification`'s
    (transformers 5 layout), splitting each fused `qkv` into query, key and value.

    Raises:
        ValueError: a key has no ViT counterpart.
    """
    non_layer = {ours: theirs for theirs, ours in _NON_LAYER_KEYS.items()}
    layer_modules = {ours: theirs for theirs, ours in _LAYER_MODULES["layers"].items() if ours not in _QKV_PARTS}
    qkv_modules = {part: theirs for theirs, part in _LAYER_MODULES["layers"].items() if part in _QKV_PARTS}
    converted: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in state_dict.items():
        if key.startswith("classifier."):
            converted[key] = tensor
            continue
        inner = key.removeprefix("backbone.")
        if inner in non_layer:
            converted[f"vit.{non_layer[inner]}"] = tensor
            continue
        stack, _, rest = inner.partition(".")
        index, _, rest = rest.partition(".")
        module, _, param = rest.rpartition(".")
        if stack != "layers" or not index.isdigit():
            unknown.append(key)
        elif module == "token_mixer.qkv":
            for part, chunk in zip(_QKV_PARTS, tensor.chunk(len(_QKV_PARTS), dim=0), strict=True):
                converted[f"vit.layers.{index}.{qkv_modules[part]}.{param}"] = chunk.clone()
        elif module in layer_modules:
            converted[f"vit.layers.{index}.{layer_modules[module]}.{param}"] = tensor
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"these IsoTransformer keys have no ViT counterpart: {unknown}")
    return converted


def export_as_vit(model: IsoTransformerForImageClassification) -> tuple[ViTForImageClassification, float]:
    """The `ViTForImageClassification` equal to `model` (eval mode, float32) and the largest absolute logit difference
    between the two on a seeded random batch.

    Raises:
        NotTransformersNativeError: the model is not exactly a ViT (see `vit_config_from_iso_transformer`), or the
            logits differ by more than `EXPORT_TOLERANCE`.
    """
    vit = ViTForImageClassification(vit_config_from_iso_transformer(model.config))
    vit.load_state_dict(vit_state_dict_from_iso_transformer(model.state_dict()), strict=True)
    vit, model = vit.float().eval(), model.float().eval()
    config = model.config
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(4, config.num_channels, config.image_size, config.image_size, generator=generator)
    with torch.no_grad():
        difference = (vit(pixel_values).logits - model(pixel_values).logits).abs().max().item()
    if not difference <= EXPORT_TOLERANCE:
        raise NotTransformersNativeError(
            f"the ViT export differs from the IsoTransformer by {difference:.3e} in the logits "
            f"(tolerance {EXPORT_TOLERANCE:.0e})"
        )
    return vit, difference
