"""inductive-zoo: vision models that put convolution-like inductive biases back into transformers.

Importing the package registers every variant with transformers' Auto classes.
"""

from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

from .models.cada_resnet import CADAResNetConfig, CADAResNetForImageClassification, CADAResNetModel
from .models.convit import ConViTConfig, ConViTForImageClassification, ConViTModel
from .models.ibit import IBiTConfig, IBiTForImageClassification, IBiTModel
from .models.isotropic import (
    IsoConvNetConfig,
    IsoConvNetForImageClassification,
    IsoConvNetModel,
    IsoMixerConfig,
    IsoMixerForImageClassification,
    IsoMixerModel,
    IsoTransformerConfig,
    IsoTransformerForImageClassification,
    IsoTransformerModel,
)
from .models.prs_vit import PRSViTConfig, PRSViTForImageClassification, PRSViTModel
from .models.skeleton import IsotropicConfig, IsotropicForImageClassification, IsotropicModel
from .training.callbacks import PRSCallback

__version__ = "0.1.0"

# (config, backbone, image-classification model) of every registered variant.
VARIANTS = (
    (IsoTransformerConfig, IsoTransformerModel, IsoTransformerForImageClassification),
    (IsoMixerConfig, IsoMixerModel, IsoMixerForImageClassification),
    (IsoConvNetConfig, IsoConvNetModel, IsoConvNetForImageClassification),
    (ConViTConfig, ConViTModel, ConViTForImageClassification),
    (PRSViTConfig, PRSViTModel, PRSViTForImageClassification),
    (IBiTConfig, IBiTModel, IBiTForImageClassification),
    (CADAResNetConfig, CADAResNetModel, CADAResNetForImageClassification),
)

for _config, _model, _classifier in VARIANTS:
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
    AutoModelForImageClassification.register(_config, _classifier, exist_ok=True)

__all__ = [
    "VARIANTS",
    "CADAResNetConfig",
    "CADAResNetForImageClassification",
    "CADAResNetModel",
    "ConViTConfig",
    "ConViTForImageClassification",
    "ConViTModel",
    "IBiTConfig",
    "IBiTForImageClassification",
    "IBiTModel",
    "IsoConvNetConfig",
    "IsoConvNetForImageClassification",
    "IsoConvNetModel",
    "IsoMixerConfig",
    "IsoMixerForImageClassification",
    "IsoMixerModel",
    "IsoTransformerConfig",
    "IsoTransformerForImageClassification",
    "IsoTransformerModel",
    "IsotropicConfig",
    "IsotropicForImageClassification",
    "IsotropicModel",
    "PRSCallback",
    "PRSViTConfig",
    "PRSViTForImageClassification",
    "PRSViTModel",
]
