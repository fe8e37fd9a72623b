"""inductive-zoo: vision models that put convolution-like inductive biases back into transformers.

Importing the package registers every variant with transformers' Auto classes.
"""

from importlib import import_module
from typing import Any

from .models.registry import MANIFESTS, MASKED_IMAGE_MODELING_MODELS, VARIANTS, register_auto_classes
from .models.skeleton import IsotropicConfig

__version__ = "0.1.0"

register_auto_classes()

# Every variant's config and model classes, as its manifest declares them (`IsoMixerConfig`, `ConViTModel`, ...).
_VARIANT_EXPORTS = {name: cls for manifest in MANIFESTS for name, cls in manifest.public_names().items()}
globals().update(_VARIANT_EXPORTS)

# Names exported from the layers above the models, imported on first use (PEP 562), so that `import inductive_zoo`
# loads the models only (not datasets, pandas or the training stack).
_LAZY_EXPORTS = {
    "SELF_SUPERVISED_MODELS": ".objectives.joint_embedding",
    "DINOModel": ".objectives.joint_embedding",
    "SimCLRModel": ".objectives.joint_embedding",
    "DINOTeacherCallback": ".training.dino_teacher",
    "KNNMonitorCallback": ".training.knn_monitor",
    "PRSCallback": ".training.prs_switches",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY_EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_EXPORTS))


__all__ = [
    "MANIFESTS",
    "MASKED_IMAGE_MODELING_MODELS",
    "VARIANTS",
    "IsotropicConfig",
    *_VARIANT_EXPORTS,
    *_LAZY_EXPORTS,
]
