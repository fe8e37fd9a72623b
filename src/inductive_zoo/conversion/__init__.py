"""Conversion of third-party checkpoints into the zoo's models (transformers' ViT -> IsoTransformer)."""

from .vit import convert_vit_model, convert_vit_state_dict, iso_transformer_config_from_vit

__all__ = ["convert_vit_model", "convert_vit_state_dict", "iso_transformer_config_from_vit"]
