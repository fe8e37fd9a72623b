"""What a variant package declares about itself, in one place: the `VariantManifest` in its `manifest.py`.

The Auto registration, the package's public names, the self-supervised models, the common tests, the recipe
catalogue, `release`, the studies and the throughput benchmark read the manifests (`models.registry.MANIFESTS`), so a
new variant is its package (config, model, manifest), its token mixer if new, and its card template.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedConfig, PreTrainedModel

# The shared recipes a variant's recipe extends; the training layer supplies their data, optimiser, augmentation and
# schedule (`training.recipes`): 10 % of CIFAR-10 on CPU (`-fast`: with the fastest CIFAR-10 recipes' options), all of
# it on a GPU with AdamW, or with SGD (ResNets).
BASE_RECIPES = ("cifar10-10pct", "cifar10-10pct-fast", "cifar10-full", "cifar10-full-sgd")

# The width and depth of the isotropic 10 % recipes: 7 blocks of 144 (9 heads of 16, one per 3x3 tap for PRS-ViT),
# MLP ratio 2, about 1.2 M parameters for the transformers, small enough for 50 epochs on one CPU core; the
# convolutional stem (Xiao et al. 2021; two stride-2 3x3 convolutions) won over the linear patch embedding in the
# tuning runs (training/RESULTS.md, "Tuning").
ISOTROPIC_144_FIELDS: dict[str, Any] = {
    "hidden_size": 144,
    "num_hidden_layers": 7,
    "intermediate_size": 288,
    "drop_path_rate": 0.1,
    "patch_embedding": "conv_stem",
}
ATTENTION_144_FIELDS: dict[str, Any] = {**ISOTROPIC_144_FIELDS, "num_attention_heads": 9}


def override_value(value: Any) -> str:
    """A config value as `--config_overrides` reads it back: strings as they are, the rest as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def overrides_text(fields: Mapping[str, Any]) -> str:
    """Config fields as `--config_overrides` takes them: `{"a": 1, "b": "x"}` -> `"a=1,b=x"`. A recipe that changes
    a shared field builds its dict from the shared one, so each field is named once."""
    return ",".join(f"{name}={override_value(value)}" for name, value in fields.items())


ISOTROPIC_144 = overrides_text(ISOTROPIC_144_FIELDS)
ATTENTION_144 = overrides_text(ATTENTION_144_FIELDS)
# Fields every token variant takes from a reference config when variants are compared at equal size.
MATCHED_FIELDS = ("image_size", "patch_size", "hidden_size", "num_hidden_layers", "intermediate_size")


@dataclass(frozen=True)
class VariantRecipe:
    """A named recipe of one variant: `arguments` of `inductive-zoo train` that belong to the model (model type,
    preset, config overrides, schedules, epochs where they differ), on top of `base`, one of `BASE_RECIPES`, which
    supplies everything else."""

    name: str
    description: str
    base: str
    arguments: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.base not in BASE_RECIPES:
            raise ValueError(f"recipe {self.name!r}: base must be one of {BASE_RECIPES}, got {self.base!r}")


@dataclass(frozen=True)
class VariantManifest:
    """One variant of the zoo.

    Args:
        display_name: the name in tables and plots ("IsoMixer").
        config_class, model_class, image_classification_class, masked_image_modeling_class: its classes; the
            config's `model_type` names the variant everywhere (Auto classes, recipes `*-{model type with dashes}`,
            the card template `model_cards/{model_type}.md`, which `publish` requires).
        test_config: a tiny config (seconds per test) on which the common tests run every class.
        recipes: its recipes; its main recipe on a base B is named `B-{model type with dashes}` (`recipe_name`: the
            one `release` trains), others (ablations) name themselves.
        token_model: patches, a position embedding and `(batch, tokens, hidden_size)` hidden states; `False` for a
            convolutional network of stage maps (CADA-ResNet), which runs at any image size.
        class_token: it can take a class token (`pooling="cls"`); `False` for mixers of the patch grid only.
        fixed_image_size: its weights fix the number of tokens (a token-mixing MLP, learned masks), so it runs at
            `config.image_size` only (no multi-crop local views, no `interpolate_pos_encoding`).
        resizable: a trained model moves to another image size with `set_image_size` (`from_pretrained(path,
            image_size=S)`); `False` where weights are tied to token positions (IsoMixer's token-mixing MLP).
        attention_heads: the config has `num_attention_heads`, matched to the reference's when variants are compared
            at equal size (`matched_overrides`).
        smoke_preset: its smallest preset at 32 pixels, for smoke runs (`release --budget small`).
        local_layers_field: the config field that counts its convolution-like local blocks (ConViT's
            `local_up_to_layer`, PRS-ViT's `num_reparameterizable_layers`), matched to the reference's
            reparameterizable blocks.
    """

    display_name: str
    config_class: type[PreTrainedConfig]
    model_class: type[PreTrainedModel]
    image_classification_class: type[PreTrainedModel]
    masked_image_modeling_class: type[PreTrainedModel]
    test_config: Mapping[str, Any]
    recipes: tuple[VariantRecipe, ...] = ()
    token_model: bool = True
    class_token: bool = True
    fixed_image_size: bool = False
    resizable: bool = True
    attention_heads: bool = False
    local_layers_field: str | None = None
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
        if not self.token_model:
            raise ValueError(f"{self.display_name} is convolutional; it has no token-model twin of equal size")
        overrides = {name: getattr(reference, name) for name in MATCHED_FIELDS}
        if self.attention_heads:
            overrides["num_attention_heads"] = reference.num_attention_heads
        if self.local_layers_field is not None:
            overrides[self.local_layers_field] = reference.num_reparameterizable_layers
        return overrides
