"""Shared fixtures: tiny configs of every variant, and the local CIFAR-10 copy."""

from pathlib import Path

import pytest
import torch

import inductive_zoo

CIFAR10 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10"

# Small enough to run every common test on every class in seconds; large enough to exercise every code path.
TINY = dict(
    image_size=16,
    patch_size=4,
    hidden_size=32,
    num_hidden_layers=2,
    intermediate_size=64,
    num_labels=5,
)
VARIANT_EXTRAS = {
    "iso_transformer": dict(num_attention_heads=4),
    "iso_mixer": dict(token_mixing_hidden_size=24),
    "iso_convnet": dict(kernel_size=3),
    "convit": dict(num_attention_heads=4, local_up_to_layer=1),
    "prs_vit": dict(hidden_size=36, num_attention_heads=9, kernel_size=3, num_reparameterizable_layers=1),
}


def tiny_config(config_class, **overrides):
    return config_class(**{**TINY, **VARIANT_EXTRAS[config_class.model_type], **overrides})


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
