"""Shared fixtures: tiny configs of every variant, and the local CIFAR-10 copy."""

from pathlib import Path

import pytest
import torch

import inductive_zoo
from inductive_zoo.models.registry import manifest_for

CIFAR10 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10"


def tiny_config(config_class, **overrides):
    """The variant's tiny test config (its manifest's `test_config`) with `overrides`."""
    return config_class(**{**manifest_for(config_class).test_config, **overrides})


def is_token_model(config_class) -> bool:
    """A token model (patches, position embedding, `(batch, tokens, hidden_size)` hidden states) or a convolutional
    one (stage maps, any image size), as its manifest says."""
    return manifest_for(config_class).model_class.is_token_model


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
