"""The zoo's variants in one place, read from the manifests of the variant packages (`models/<variant>/manifest.py`,
each defining `MANIFESTS`), and their registration with transformers' Auto classes (done by `import inductive_zoo`).

A package under `models/` with a `manifest` module is a variant package; nothing else lists the variants.
"""

import pkgutil
from importlib import import_module

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForMaskedImageModeling,
    PreTrainedConfig,
    PreTrainedModel,
)

from .manifest import VariantManifest


def discover_manifests() -> tuple[VariantManifest, ...]:
    """The manifests of every variant package under `inductive_zoo.models`, in package-name order.

    Raises:
        ValueError: two manifests claim the same `model_type`.
    """
    package = import_module(__package__)
    manifests: list[VariantManifest] = []
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda module: module.name):
        if not module.ispkg:
            continue
        try:
            variant_manifest = import_module(f"{__package__}.{module.name}.manifest")
        except ModuleNotFoundError as error:
            if error.name != f"{__package__}.{module.name}.manifest":
                raise
            continue
        manifests.extend(variant_manifest.MANIFESTS)
    model_types = [manifest.model_type for manifest in manifests]
    duplicates = sorted({name for name in model_types if model_types.count(name) > 1})
    if duplicates:
        raise ValueError(f"several variant manifests declare model_type {duplicates}")
    return tuple(manifests)


MANIFESTS = discover_manifests()
MANIFESTS_BY_MODEL_TYPE = {manifest.model_type: manifest for manifest in MANIFESTS}

# (config, backbone, image-classification model) of every registered variant.
VARIANTS = tuple(
    (manifest.config_class, manifest.model_class, manifest.image_classification_class) for manifest in MANIFESTS
)

# The masked-image-modeling model of every variant, by config class (`AutoModelForMaskedImageModeling`).
MASKED_IMAGE_MODELING_MODELS = {manifest.config_class: manifest.masked_image_modeling_class for manifest in MANIFESTS}


def manifest_for(config_or_model_type: PreTrainedConfig | type[PreTrainedConfig] | str) -> VariantManifest:
    """The manifest of a variant, by its config (instance or class) or its `model_type`.

    Raises:
        ValueError: not a zoo variant (the message lists them).
    """
    model_type = (
        config_or_model_type
        if isinstance(config_or_model_type, str)
        else getattr(config_or_model_type, "model_type", None)
    )
    manifest = MANIFESTS_BY_MODEL_TYPE.get(model_type)
    if manifest is None:
        raise ValueError(f"{model_type!r} is not a zoo variant; choose one of {sorted(MANIFESTS_BY_MODEL_TYPE)}")
    return manifest


def backbone_class_for(config_class: type[PreTrainedConfig]) -> type[PreTrainedModel]:
    """The backbone of the variant whose config class is `config_class`.

    Raises:
        ValueError: `config_class` is not the config of a zoo variant.
    """
    for manifest in MANIFESTS:
        if manifest.config_class is config_class:
            return manifest.model_class
    raise ValueError(f"{config_class.__name__} is not the config of a zoo variant")


def register_auto_classes() -> None:
    """Registers every variant with `AutoConfig`, `AutoModel`, `AutoModelForImageClassification` and
    `AutoModelForMaskedImageModeling`, and the FastConvNet baseline with the first three (idempotent)."""
    from .fast_convnet import FastConvNetConfig, FastConvNetForImageClassification, FastConvNetModel

    AutoConfig.register(FastConvNetConfig.model_type, FastConvNetConfig, exist_ok=True)
    AutoModel.register(FastConvNetConfig, FastConvNetModel, exist_ok=True)
    AutoModelForImageClassification.register(FastConvNetConfig, FastConvNetForImageClassification, exist_ok=True)
    for manifest in MANIFESTS:
        config = manifest.config_class
        AutoConfig.register(config.model_type, config, exist_ok=True)
        AutoModel.register(config, manifest.model_class, exist_ok=True)
        AutoModelForImageClassification.register(config, manifest.image_classification_class, exist_ok=True)
        AutoModelForMaskedImageModeling.register(config, manifest.masked_image_modeling_class, exist_ok=True)
