"""The token-mixer registry, the manifests that every variant declares, and PoolFormer's pooling mixer."""

import pytest
import torch
from conftest import MODEL_CLASSES, tiny_config
from torch import nn
from torch.nn import functional as F

import inductive_zoo
from inductive_zoo.layers.mixers import TOKEN_MIXERS, PoolingMixer, create_token_mixer, register_token_mixer
from inductive_zoo.models.manifest import VariantManifest
from inductive_zoo.publishing.cards import MODEL_CARDS_DIR
from inductive_zoo.training.recipes import RECIPES, recipe_name
from inductive_zoo.training.variant_recipes import VARIANT_RECIPES


def test_an_unknown_mixer_name_is_refused_with_the_registered_names():
    config = tiny_config(inductive_zoo.IsoTransformerConfig)
    with pytest.raises(ValueError, match=r"unknown token mixer 'convolution'.*self_attention"):
        create_token_mixer("convolution", config, 0)


def test_a_name_cannot_be_registered_twice_by_different_classes():
    with pytest.raises(ValueError, match="'pooling' is already registered by PoolingMixer"):

        @register_token_mixer("pooling")
        class OtherPooling(nn.Module):
            pass

    assert TOKEN_MIXERS["pooling"] is PoolingMixer


@pytest.mark.parametrize(("config_class", "model_class"), MODEL_CLASSES)
def test_each_block_gets_the_mixer_its_config_names(config_class, model_class):
    config = tiny_config(config_class)
    if not hasattr(config, "token_mixer_names"):
        pytest.skip("a convolutional network of stages, not the isotropic skeleton")
    model = model_class(config)
    backbone = getattr(model, "backbone", model)
    assert [layer.token_mixer.mixer_name for layer in backbone.layers] == config.token_mixer_names()


def test_convit_and_prs_vit_layouts_are_configurations():
    convit = tiny_config(inductive_zoo.ConViTConfig, num_hidden_layers=3, local_up_to_layer=2)
    assert convit.token_mixer_names() == ["gpsa", "gpsa", "self_attention"]
    prs = tiny_config(inductive_zoo.PRSViTConfig, num_hidden_layers=3, num_reparameterizable_layers=1)
    assert prs.token_mixer_names() == ["reparameterizable_conv_attention", "self_attention", "self_attention"]


def test_pooling_mixer_is_average_pooling_minus_the_identity_without_counting_padding():
    config = inductive_zoo.IsoPoolFormerConfig(image_size=16, patch_size=4, hidden_size=8, pool_size=3)
    mixer = PoolingMixer(config)
    tokens = torch.randn(2, 16, 8)
    mixed, attention = mixer(tokens, grid_size=(4, 4))
    grid = tokens.transpose(1, 2).reshape(2, 8, 4, 4)
    # The corner token averages its 2x2 in-grid neighbourhood, not 9 positions with zero padding.
    corner = grid[:, :, :2, :2].mean(dim=(-1, -2)) - grid[:, :, 0, 0]
    torch.testing.assert_close(mixed[:, 0], corner)
    expected = F.avg_pool2d(grid, 3, 1, 1, count_include_pad=False) - grid
    torch.testing.assert_close(mixed, expected.flatten(2).transpose(1, 2))
    assert attention is None
    # A constant image is a fixed point of the block's mixer branch: nothing to mix.
    assert mixer(torch.ones(1, 16, 8), grid_size=(4, 4))[0].abs().max() == 0


@pytest.mark.parametrize("overrides", [{"pool_size": 2}, {"pool_size": 0}, {"pooling": "cls"}])
def test_bad_poolformer_configs_name_the_field(overrides):
    field = next(iter(overrides))
    with pytest.raises(ValueError, match=field):
        inductive_zoo.IsoPoolFormerConfig(**overrides)


@pytest.mark.parametrize("manifest", inductive_zoo.MANIFESTS, ids=lambda manifest: manifest.model_type)
def test_every_manifest_has_its_card_recipes_and_exports(manifest: VariantManifest):
    assert (MODEL_CARDS_DIR / f"{manifest.model_type}.md").is_file()
    assert manifest.smoke_preset in manifest.config_class.presets
    assert recipe_name("cifar10-10pct", manifest.model_type) in RECIPES
    for recipe in VARIANT_RECIPES[manifest.model_type]:
        assert RECIPES[recipe.name].arguments["model_type"] == manifest.model_type
    for name, cls in manifest.public_names().items():
        assert getattr(inductive_zoo, name) is cls and name in inductive_zoo.__all__


def attention_test_model(
    config_class=inductive_zoo.IsoTransformerConfig, model_class=inductive_zoo.IsoTransformerForImageClassification
) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = model_class(tiny_config(config_class)).eval()
    pixels = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model, pixels, model(pixels).logits


@pytest.mark.parametrize(
    ("config_class", "model_class", "attention_layers"),
    [
        (inductive_zoo.IsoTransformerConfig, inductive_zoo.IsoTransformerForImageClassification, "num_hidden_layers"),
        (inductive_zoo.ConViTConfig, inductive_zoo.ConViTForImageClassification, "local_up_to_layer"),
    ],
    ids=["self-attention", "gpsa"],
)
def test_attention_runs_an_attention_function_registered_with_transformers(config_class, model_class, attention_layers):
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    calls = []

    def counting_sdpa(module, query, key, value, attention_mask, **kwargs):
        calls.append(query.shape)
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register("counting_sdpa", counting_sdpa)
    model, pixels, reference = attention_test_model(config_class, model_class)
    model.set_attn_implementation("counting_sdpa")
    with torch.no_grad():
        torch.testing.assert_close(model(pixels).logits, reference)
    # GPSA's content attention goes through the kernel too (ConViT's class-token blocks after `local_up_to_layer`
    # are plain self-attention, so every block calls it once).
    assert len(calls) == model.config.num_hidden_layers and getattr(model.config, attention_layers) > 0


@pytest.mark.slow
def test_flex_attention_matches_sdpa():
    model, pixels, reference = attention_test_model()
    model.set_attn_implementation("flex_attention")  # compiles a kernel: about a minute on a CPU
    with torch.no_grad():
        torch.testing.assert_close(model(pixels).logits, reference)


def test_a_backbone_using_the_old_mixer_api_is_refused_at_definition():
    from inductive_zoo.models.skeleton.modeling_skeleton import IsotropicModel

    with pytest.raises(TypeError, match=r"token_mixer_class.*register_token_mixer"):

        class OldStyleModel(IsotropicModel):
            token_mixer_class = PoolingMixer
