"""Checkpoints saved by an earlier version (`fixtures/make_saved_checkpoints.py`, inductive-zoo 0.1.0) still load
with the Auto classes and compute the same outputs: a refactor must not change what a user's saved model does."""

import json
from pathlib import Path

import pytest
import torch
from fixtures.make_saved_checkpoints import fixed_mask, fixed_pixels
from transformers import AutoModelForImageClassification, AutoModelForMaskedImageModeling

import inductive_zoo

SAVED = Path(__file__).resolve().parent / "fixtures" / "saved_checkpoints"
# The variants that existed when the fixtures were saved (a later variant has no older checkpoint to compare with).
MODEL_TYPES = sorted(folder.name for folder in SAVED.iterdir() if folder.is_dir())


def test_every_saved_variant_is_still_registered():
    registered = {config.model_type for config, _, _ in inductive_zoo.VARIANTS}
    assert len(MODEL_TYPES) >= 7 and set(MODEL_TYPES) <= registered


def expected(folder: Path) -> torch.Tensor:
    return torch.tensor(json.loads((folder / "expected_outputs.json").read_text()))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_saved_classifier_gives_the_same_logits(model_type):
    folder = SAVED / model_type / "classifier"
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(fixed_pixels()).logits
    torch.testing.assert_close(logits, expected(folder), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_saved_masked_image_model_gives_the_same_reconstruction(model_type):
    folder = SAVED / model_type / "mim"
    model = AutoModelForMaskedImageModeling.from_pretrained(folder).eval()
    with torch.no_grad():
        reconstruction = model(fixed_pixels(), bool_masked_pos=fixed_mask(model.config.mim_patch_size)).reconstruction
    torch.testing.assert_close(reconstruction, expected(folder), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("objective", ["simclr", "dino"])
def test_saved_joint_embedding_model_gives_the_same_embeddings_and_fine_tunes(objective):
    folder = SAVED / "iso_transformer" / objective
    model = inductive_zoo.SELF_SUPERVISED_MODELS[objective].from_pretrained(folder).eval()
    assert type(model.config) is inductive_zoo.IsoTransformerConfig
    pixels = fixed_pixels()
    with torch.no_grad():
        embeddings = model(global_views=torch.stack([pixels, pixels.flip(-1)])).embeddings
    torch.testing.assert_close(embeddings, expected(folder), rtol=1e-4, atol=1e-5)
    classifier = AutoModelForImageClassification.from_pretrained(folder)
    backbone = model.backbone.state_dict()
    for name, tensor in classifier.backbone.state_dict().items():
        torch.testing.assert_close(tensor, backbone[name], msg=f"backbone.{name} differs")
