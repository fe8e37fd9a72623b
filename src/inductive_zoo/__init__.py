"""inductive-zoo: vision models that put convolution-like inductive biases back into transformers.

Importing the package registers every variant with transformers' Auto classes.
"""

from importlib import import_module
from typing import Any

from .models.cada_resnet import (
    CADAResNetConfig,
    CADAResNetForImageClassification,
    CADAResNetForMaskedImageModeling,
    CADAResNetModel,
)
from .models.convit import ConViTConfig, ConViTForImageClassification, ConViTForMaskedImageModeling, ConViTModel
from .models.ibit import IBiTConfig, IBiTForImageClassification, IBiTForMaskedImageModeling, IBiTModel
from .models.isotropic import (
    IsoConvNetConfig,
    IsoConvNetForImageClassification,
    IsoConvNetForMaskedImageModeling,
    IsoConvNetModel,
    IsoMixerConfig,
    IsoMixerForImageClassification,
    IsoMixerForMaskedImageModeling,
    IsoMixerModel,
    IsoTransformerConfig,
    IsoTransformerForImageClassification,
    IsoTransformerForMaskedImageModeling,
    IsoTransformerModel,
)
from .models.prs_vit import PRSViTConfig, PRSViTForImageClassification, PRSViTForMaskedImageModeling, PRSViTModel
from .models.registry import MASKED_IMAGE_MODELING_MODELS, VARIANTS, register_auto_classes
from .models.skeleton import IsotropicConfig

__version__ = "0.1.0"

register_auto_classes()

# Names exported from the layers above the models, imported on first use (PEP 562), so that `import inductive_zoo`
# loads the models only (not datasets, pandas or the training stack).
_LAZY_EXPORTS = {
    "SELF_SUPERVISED_MODELS": ".objectives.joint_embedding",
    "DINOModel": ".objectives.joint_embedding",
    "SimCLRModel": ".objectives.joint_embedding",
    "dino_model_class": ".objectives.joint_embedding",
    "simclr_model_class": ".objectives.joint_embedding",
    "DINOTeacherCallback": ".training.callbacks",
    "KNNMonitorCallback": ".training.callbacks",
    "PRSCallback": ".training.callbacks",
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
    "MASKED_IMAGE_MODELING_MODELS",
    "SELF_SUPERVISED_MODELS",
    "VARIANTS",
    "CADAResNetConfig",
    "CADAResNetForImageClassification",
    "CADAResNetForMaskedImageModeling",
    "CADAResNetModel",
    "ConViTConfig",
    "ConViTForImageClassification",
    "ConViTForMaskedImageModeling",
    "ConViTModel",
    "DINOModel",
    "DINOTeacherCallback",
    "IBiTConfig",
    "IBiTForImageClassification",
    "IBiTForMaskedImageModeling",
    "IBiTModel",
    "IsoConvNetConfig",
    "IsoConvNetForImageClassification",
    "IsoConvNetForMaskedImageModeling",
    "IsoConvNetModel",
    "IsoMixerConfig",
    "IsoMixerForImageClassification",
    "IsoMixerForMaskedImageModeling",
    "IsoMixerModel",
    "IsoTransformerConfig",
    "IsoTransformerForImageClassification",
    "IsoTransformerForMaskedImageModeling",
    "IsoTransformerModel",
    "IsotropicConfig",
    "KNNMonitorCallback",
    "PRSCallback",
    "PRSViTConfig",
    "PRSViTForImageClassification",
    "PRSViTForMaskedImageModeling",
    "PRSViTModel",
    "SimCLRModel",
    "dino_model_class",
    "simclr_model_class",
]
