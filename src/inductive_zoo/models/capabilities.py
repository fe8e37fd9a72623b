"""What a variant's weights allow, declared as class attributes of its models (as transformers' `_supports_*` flags):
each variant's backbone class (`VariantManifest.model_class`) overrides the defaults; tests, objectives, studies and
cards read them instead of asking each config."""

from typing import ClassVar


class VariantCapabilities:
    """The capability flags of a zoo model class, with the defaults of an attention-free isotropic token model."""

    # Patches, a position embedding and `(batch, tokens, hidden_size)` states (not a convolutional network of stages).
    is_token_model: ClassVar[bool] = True
    # A class token (`pooling="cls"`); mixers of the patch grid only refuse it (the config says so by name).
    supports_class_token: ClassVar[bool] = True
    # Any image size at call time; `False` where weights fix the number of tokens (a token-mixing MLP, learned masks):
    # no multi-crop local views, no `interpolate_pos_encoding`.
    runs_at_any_image_size: ClassVar[bool] = True
    # Moves to another image size for good (`set_image_size`, `from_pretrained(path, image_size=S)`).
    supports_set_image_size: ClassVar[bool] = True
    # The config has `num_attention_heads` that matter (matched when variants are compared at equal size).
    has_attention_heads: ClassVar[bool] = False
    # The config field counting the convolution-like local blocks (ConViT's `local_up_to_layer`, PRS-ViT's
    # `num_reparameterizable_layers`), matched to the reference's reparameterizable blocks.
    local_layers_field: ClassVar[str | None] = None
