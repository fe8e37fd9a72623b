"""Conversion of third-party checkpoints into the zoo's models: transformers' ViT -> IsoTransformer, the reference
ConViT -> ConViT, the author's IBiT -> IBiT."""

from .convit import (
    convert_convit_model,
    convert_convit_state_dict,
    convit_config_from_reference,
    infer_convit_hyperparameters,
    unwrap_convit_checkpoint,
)
from .ibit import (
    convert_ibit_model,
    convert_ibit_state_dict,
    ibit_config_from_reference,
    infer_ibit_hyperparameters,
)
from .vit import convert_vit_model, convert_vit_state_dict, iso_transformer_config_from_vit

__all__ = [
    "convert_convit_model",
    "convert_convit_state_dict",
    "convert_ibit_model",
    "convert_ibit_state_dict",
    "convert_vit_model",
    "convert_vit_state_dict",
    "convit_config_from_reference",
    "ibit_config_from_reference",
    "infer_convit_hyperparameters",
    "infer_ibit_hyperparameters",
    "iso_transformer_config_from_vit",
    "unwrap_convit_checkpoint",
]
