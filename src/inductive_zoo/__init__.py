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
from .objectives import DINOModel, SimCLRModel, dino_model_class, simclr_model_class
from .training.callbacks import DINOTeacherCallback, KNNMonitorCallback, PRSCallback

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

# The joint-embedding pre-training models of every variant (`{Variant}ForSimCLR`, `{Variant}ForDINO`), by objective
# and config class: heads on the same `backbone` as the classifier's, so their weights fine-tune directly.
SELF_SUPERVISED_MODELS = {
    "simclr": {config: simclr_model_class(config) for config, _, _ in VARIANTS},
    "dino": {config: dino_model_class(config) for config, _, _ in VARIANTS},
}

for _config, _model, _classifier in VARIANTS:
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
    AutoModelForImageClassification.register(_config, _classifier, exist_ok=True)
    AutoModelForMaskedImageModeling.register(_config, MASKED_IMAGE_MODELING_MODELS[_config], exist_ok=True)

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
    "IsotropicForImageClassification",
    "IsotropicForMaskedImageModeling",
    "IsotropicModel",
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
