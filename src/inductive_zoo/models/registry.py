"""The zoo's variants in one place: their config, backbone, classifier and masked-image-modeling classes, and their
registration with transformers' Auto classes (done by `import inductive_zoo`)."""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForMaskedImageModeling,
    PreTrainedConfig,
    PreTrainedModel,
)

from .cada_resnet import (
    CADAResNetConfig,
    CADAResNetForImageClassification,
    CADAResNetForMaskedImageModeling,
    CADAResNetModel,
)
from .convit import ConViTConfig, ConViTForImageClassification, ConViTForMaskedImageModeling, ConViTModel
from .ibit import IBiTConfig, IBiTForImageClassification, IBiTForMaskedImageModeling, IBiTModel
from .isotropic import (
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
from .prs_vit import PRSViTConfig, PRSViTForImageClassification, PRSViTForMaskedImageModeling, PRSViTModel

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


def backbone_class_for(config_class: type[PreTrainedConfig]) -> type[PreTrainedModel]:
    """The backbone registered for `config_class` in `VARIANTS`.

    Raises:
        ValueError: `config_class` is not the config of a zoo variant.
    """
    for variant_config, backbone, _ in VARIANTS:
        if variant_config is config_class:
            return backbone
    raise ValueError(f"{config_class.__name__} is not the config of a zoo variant")


def register_auto_classes() -> None:
    """Registers every variant with `AutoConfig`, `AutoModel`, `AutoModelForImageClassification` and
    `AutoModelForMaskedImageModeling` (idempotent)."""
    for config, model, classifier in VARIANTS:
        AutoConfig.register(config.model_type, config, exist_ok=True)
        AutoModel.register(config, model, exist_ok=True)
        AutoModelForImageClassification.register(config, classifier, exist_ok=True)
        AutoModelForMaskedImageModeling.register(config, MASKED_IMAGE_MODELING_MODELS[config], exist_ok=True)
