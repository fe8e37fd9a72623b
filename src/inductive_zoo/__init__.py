"""inductive-zoo: vision models that put convolution-like inductive biases back into transformers.

Importing the package registers every variant with transformers' Auto classes.
"""

from transformers import AutoConfig, AutoModel, AutoModelForImageClassification, AutoModelForMaskedImageModeling

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
from .models.skeleton import (
    IsotropicConfig,
    IsotropicForImageClassification,
    IsotropicForMaskedImageModeling,
    IsotropicModel,
)
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

# The masked-image-modeling model of every variant, by config class (`AutoModelForMaskedImageModeling`).
MASKED_IMAGE_MODELING_MODELS = {
    IsoTransformerConfig: IsoTransformerForMaskedImageModeling,
    IsoMixerConfig: IsoMixerForMaskedImageModeling,
    IsoConvNetConfig: IsoConvNetForMaskedImageModeling,
    ConViTConfig: ConViTForMaskedImageModeling,
    PRSViTConfig: PRSViTForMaskedImageModeling,
    IBiTConfig: IBiTForMaskedImageModeling,
    CADAResNetConfig: CADAResNetForMaskedImageModeling,
}

for _config, _model, _classifier in VARIANTS:
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
    AutoModelForImageClassification.register(_config, _classifier, exist_ok=True)
    AutoModelForMaskedImageModeling.register(_config, MASKED_IMAGE_MODELING_MODELS[_config], exist_ok=True)

__all__ = [
    "MASKED_IMAGE_MODELING_MODELS",
    "VARIANTS",
    "CADAResNetConfig",
    "CADAResNetForImageClassification",
    "CADAResNetForMaskedImageModeling",
    "CADAResNetModel",
    "ConViTConfig",
    "ConViTForImageClassification",
    "ConViTForMaskedImageModeling",
    "ConViTModel",
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
    "IsotropicForImageClassification",
    "IsotropicForMaskedImageModeling",
    "IsotropicModel",
    "PRSCallback",
    "PRSViTConfig",
    "PRSViTForImageClassification",
    "PRSViTForMaskedImageModeling",
    "PRSViTModel",
]
