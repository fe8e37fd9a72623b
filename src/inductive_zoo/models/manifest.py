"""What a variant package declares about itself, in one place: the `VariantManifest` in its `manifest.py`.

The Auto registration, the package's public names, the self-supervised models, the common tests, `release`, the
studies and the throughput benchmark read the manifests (`models.registry.MANIFESTS`), so a new variant is its
package (config, model, manifest), its token mixer if new, its card template and its recipes
(`training.variant_recipes`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedConfig, PreTrainedModel

# Fields every token variant takes from a reference config when variants are compared at equal size.
MATCHED_FIELDS = ("image_size", "patch_size", "hidden_size", "num_hidden_layers", "intermediate_size")


@dataclass(frozen=True)
class VariantManifest:
    """One variant of the zoo.

    Args:
        display_name: the name in tables and plots ("IsoMixer").
        config_class, model_class, image_classification_class, masked_image_modeling_class: its classes; the
            config's `model_type` names the variant everywhere (Auto classes, recipes `*-{model type with dashes}`,
            the card template `model_cards/{model_type}.md`, which `publish` requires).
        test_config: a tiny config (seconds per test) on which the common tests run every class.
        smoke_preset: its smallest preset at 32 pixels, for smoke runs (`release --budget small`).
    """

    display_name: str
    config_class: type[PreTrainedConfig]
    model_class: type[PreTrainedModel]
    image_classification_class: type[PreTrainedModel]
    masked_image_modeling_class: type[PreTrainedModel]
    test_config: Mapping[str, Any]
    smoke_preset: str = "micro-patch4-32"

    @property
    def model_type(self) -> str:
        return self.config_class.model_type

    def public_names(self) -> dict[str, type]:
        """The names the package root exports for this variant: its config and model classes."""
        classes = (
            self.config_class,
            self.model_class,
            self.image_classification_class,
            self.masked_image_modeling_class,
        )
        return {cls.__name__: cls for cls in classes}

    def matched_overrides(self, reference: PreTrainedConfig) -> dict[str, Any]:
        """Config fields that build this (token) variant at the size of `reference` (a PRS-ViT config): its geometry,
        width, depth and MLP size, its heads for attention variants, as many local blocks as the reference has
        reparameterizable blocks.

        Raises:
            ValueError: the variant is convolutional (it has its own stage layout and no equal-size twin).
        """
        model = self.model_class
        if not model.is_token_model:
            raise ValueError(f"{self.display_name} is convolutional; it has no token-model twin of equal size")
        overrides = {name: getattr(reference, name) for name in MATCHED_FIELDS}
        if model.has_attention_heads:
            overrides["num_attention_heads"] = reference.num_attention_heads
        if model.local_layers_field is not None:
            overrides[model.local_layers_field] = reference.num_reparameterizable_layers
        return overrides
