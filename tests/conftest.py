"""Shared fixtures: tiny configs of every variant, and the local CIFAR-10 copy."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

import inductive_zoo

CIFAR10 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10"


@dataclass(frozen=True)
class VariantSpec:
    """How the common tests treat a variant: its tiny config, and whether it is a token model (patches, position
    embedding, `(batch, tokens, hidden_size)` hidden states) or a convolutional one (stage maps, any image size)."""

    tiny_config: dict[str, Any]
    token_model: bool = True


# Small enough to run every common test on every class in seconds; large enough to exercise every code path.
TOKEN_TINY = dict(
    image_size=16,
    patch_size=4,
    hidden_size=32,
    num_hidden_layers=2,
    intermediate_size=64,
    num_labels=5,
)
# One entry per registered variant (its model_type), read by every common test.
VARIANT_SPECS = {
    "iso_transformer": VariantSpec({**TOKEN_TINY, "num_attention_heads": 4}),
    "iso_mixer": VariantSpec({**TOKEN_TINY, "token_mixing_hidden_size": 24}),
    "iso_convnet": VariantSpec({**TOKEN_TINY, "kernel_size": 3}),
    "convit": VariantSpec({**TOKEN_TINY, "num_attention_heads": 4, "local_up_to_layer": 1}),
    "prs_vit": VariantSpec(
        {**TOKEN_TINY, "hidden_size": 36, "num_attention_heads": 9, "kernel_size": 3, "num_reparameterizable_layers": 1}
    ),
    # Two stages (the second with a stride-2 and a stride-1 block), two context groups of two bases.
    "ibit": VariantSpec({**TOKEN_TINY, "num_attention_heads": 4, "mask_rank": 4}),
    "cada_resnet": VariantSpec(
        dict(
            image_size=16,
            stem="cifar",
            stem_width=8,
            depths=[1, 2],
            bottleneck_widths=[4, 8],
            num_bases=2,
            context_groups=2,
            num_labels=5,
        ),
        token_model=False,
    ),
}


def tiny_config(config_class, **overrides):
    return config_class(**{**VARIANT_SPECS[config_class.model_type].tiny_config, **overrides})


def is_token_model(config_class) -> bool:
    return VARIANT_SPECS[config_class.model_type].token_model


MODEL_CLASSES = [
    pytest.param(config_class, model_class, id=model_class.__name__)
    for config_class, backbone, classifier in inductive_zoo.VARIANTS
    for model_class in (backbone, classifier)
]
CONFIG_CLASSES = [pytest.param(c, id=c.__name__) for c, _, _ in inductive_zoo.VARIANTS]


@pytest.fixture
def pixels() -> torch.Tensor:
    return torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="session")
def cifar10_path() -> Path:
    if not CIFAR10.exists():
        pytest.skip(f"the local CIFAR-10 copy is not at {CIFAR10}")
    return CIFAR10
