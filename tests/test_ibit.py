"""IBiT: mask fitting, the roll index, learned masked self-attention, attention rollout, a short real-data run."""

import numpy as np
import pytest
import torch

from inductive_zoo.analysis import attention_rollout, rollout_heatmap
from inductive_zoo.layers.mixers.distance_masks import relative_target
from inductive_zoo.models.ibit import IBiTConfig, IBiTForImageClassification, fit_distance_mask, roll_index
from inductive_zoo.training.image_classification import parse_args, run


def micro(**overrides) -> IBiTForImageClassification:
    torch.manual_seed(0)
    return IBiTForImageClassification(IBiTConfig.from_preset("micro-patch4-32", num_labels=10, **overrides)).eval()


def test_mask_fit_is_optimal_cached_and_reports_its_error():
    fit = fit_distance_mask((8, 8), 1, 9)
    target = relative_target((8, 8), 1, "exponential", 0.5, 1.0).float()
    error = float(torch.linalg.norm(fit.query_factors.T @ fit.offset_factors - target) / torch.linalg.norm(target))
    assert fit.relative_error == pytest.approx(error, rel=1e-4)
    assert fit.relative_error < 0.12  # measured 0.0955 for the reference's kernel at rank 9 on an 8x8 grid
    assert fit_distance_mask((8, 8), 1, 9) is fit  # cached: building a model does not refit
    # Eckart-Young: no rank-9 factorisation does better, e.g. a perturbed one.
    noisy = fit.query_factors + 0.01 * torch.randn_like(fit.query_factors)
    assert torch.linalg.norm(noisy.T @ fit.offset_factors - target) > torch.linalg.norm(
        fit.query_factors.T @ fit.offset_factors - target
    )
    assert fit_distance_mask((8, 8), 1, 18).relative_error < fit.relative_error
    assert fit_distance_mask((8, 8), 1, 9, "gaussian").relative_error < 0.05


def test_target_is_the_distance_kernel_in_relative_layout():
    target = relative_target((4, 4), 1, "exponential", 0.5, 1.0)
    assert torch.all(target[0] == 1) and torch.all(target[:, 0] == 1)
    # Patch query 5 = (row 1, col 1); relative offset j reaches key (5 + j) mod 16.
    for offset in range(16):
        key = (5 + offset) % 16
        distance = np.hypot(key // 4 - 1, key % 4 - 1)
        assert target[1 + 5, 1 + offset] == pytest.approx(np.exp(-0.5 * distance))


def test_fresh_masks_are_centred_on_the_query_and_the_legacy_roll_one_to_the_right():
    mask = micro().backbone.layers[0].token_mixer.mask().detach()
    assert torch.equal(mask[0], mask[1]) and torch.equal(mask[0], mask[2])  # every head starts alike
    patches = mask[0, 1:, 1:]
    assert (patches.argmax(dim=-1) == torch.arange(64)).float().mean() > 0.95
    interior = torch.tensor([row * 8 + col for row in range(2, 6) for col in range(2, 6)])
    # Centred: the left and right neighbours weigh the same (up to the fit error).
    torch.testing.assert_close(patches[interior, interior + 1], patches[interior, interior - 1], atol=0.05, rtol=0)
    # The reference's roll centres the kernel on the key to the right: right neighbours outweigh left ones.
    legacy = micro(legacy_mask_roll=True).backbone.layers[0].token_mixer.mask().detach()[0, 1:, 1:]
    assert torch.all(legacy[interior, interior + 2] > legacy[interior, interior - 2] + 0.25)
    torch.testing.assert_close(legacy[interior, interior + 1], patches[interior, interior], atol=0.05, rtol=0)
    # The class row and column start near one (fitted to ones).
    assert torch.allclose(mask[0, 0], torch.ones(65), atol=0.2) and torch.allclose(
        mask[0, :, 0], torch.ones(65), atol=0.2
    )


def test_roll_index_gathers_relative_offsets_back_to_keys():
    index = roll_index(16, 1)
    for query in range(16):
        for key in range(16):
            assert index[1 + query, 1 + key] == 1 + (key - query) % 16
    assert torch.equal(index[0], torch.arange(17)) and torch.all(index[1:, 0] == 0)
    assert torch.equal(roll_index(16, 1, legacy_offset=True)[1:, 1:], index[1:, 1:] - 1)
    assert torch.equal(roll_index(16, 0), index[1:, 1:] - 1)


def test_learned_masked_attention_is_frobenius_normalised_masked_scores():
    model = micro()
    mixer = model.backbone.layers[0].token_mixer
    tokens = torch.randn(2, 65, model.config.hidden_size)
    with torch.no_grad():
        output, attention = mixer(tokens, output_attentions=True)
        q, k, v = mixer.qkv(tokens).reshape(2, 65, 3, 3, 32).permute(2, 0, 3, 1, 4)
        relative = mixer.mask_query_factors.transpose(-1, -2) @ mixer.mask_offset_factors
        index = roll_index(64, 1)
        mask = torch.stack([torch.stack([relative[h, row, index[row]] for row in range(65)]) for h in range(3)])
        scores = q @ k.transpose(-1, -2) / np.sqrt(32) * mask
        expected = scores / (scores.flatten(2).norm(dim=-1)[..., None, None] + 1e-8)
    torch.testing.assert_close(attention, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(attention.flatten(2).norm(dim=-1), torch.ones(2, 3), atol=1e-5, rtol=0)
    context = (expected @ v).transpose(1, 2).reshape(2, 65, 96)
    torch.testing.assert_close(output, mixer.proj(context), atol=1e-5, rtol=1e-4)


def test_other_image_sizes_and_invalid_configs_are_refused():
    with pytest.raises(ValueError, match="cannot run at another image size"):
        micro()(torch.randn(1, 3, 48, 48), interpolate_pos_encoding=True)
    with pytest.raises(ValueError, match="mask_kernel must be one of"):
        IBiTConfig.from_preset("micro-patch4-32", mask_kernel="box")
    with pytest.raises(ValueError, match=r"mask_rank \(70\) cannot exceed the sequence length \(65\)"):
        IBiTConfig.from_preset("micro-patch4-32", mask_rank=70)
    with pytest.raises(ValueError, match="mask_kernel_scale must be positive"):
        IBiTConfig.from_preset("micro-patch4-32", mask_kernel_scale=0.0)


def test_fresh_masks_survive_from_pretrained_and_are_refitted_when_missing(tmp_path):
    model = micro()
    model.save_pretrained(tmp_path)
    reloaded = IBiTForImageClassification.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[name], tensor, msg=name)
    fit = fit_distance_mask((8, 8), 1, 9)
    factors = reloaded.backbone.layers[1].token_mixer.mask_query_factors
    torch.testing.assert_close(factors, fit.query_factors.expand_as(factors))


def test_attention_rollout_follows_the_attended_patch():
    # One layer where the class token attends only to patch 5 (token 6): the heat map peaks there.
    attention = torch.zeros(1, 2, 17, 17)
    attention[:, :, torch.arange(17), torch.arange(17)] = 1.0
    attention[:, :, 0] = 0.0
    attention[:, :, 0, 6] = 1.0
    heatmap = rollout_heatmap([attention], (4, 4), num_prefix_tokens=1)
    assert heatmap.shape == (1, 4, 4)
    assert heatmap.reshape(-1).argmax() == 5 and heatmap.max() == 1.0 and heatmap.min() == 0.0
    # Patch-only maps before a late class token are lifted with the class token carrying itself.
    rolled = attention_rollout([torch.eye(16).expand(1, 2, 16, 16), attention])
    assert rolled.shape == (1, 17, 17)
    torch.testing.assert_close(rolled.sum(-1), torch.ones(1, 17))
    with pytest.raises(ValueError, match="needs at least one attention map"):
        attention_rollout([])


def test_rollout_heatmap_of_ibit_on_real_images(cifar10_path):
    from inductive_zoo.data import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        DecodedImageDataset,
        ImageClassificationCollator,
        load_image_dataset,
    )

    data = load_image_dataset(str(cifar10_path))
    dataset = DecodedImageDataset(data.splits["test"].select(range(4)), "test", "img", "label", 32)
    pixels = ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD)(dataset.__getitems__([0, 1, 2, 3]))
    with torch.no_grad():
        outputs = micro()(pixels["pixel_values"], output_attentions=True)
    heatmap = rollout_heatmap(outputs.attentions, (8, 8), num_prefix_tokens=1)
    assert heatmap.shape == (4, 8, 8) and torch.isfinite(heatmap).all()
    # Each image's map spans [0, 1]: the signed masks give a flow that varies over the patches (a constant flow, e.g.
    # from maps that cancel, would leave the map all zero).
    torch.testing.assert_close(heatmap.amax(dim=(1, 2)), torch.ones(4))
    torch.testing.assert_close(heatmap.amin(dim=(1, 2)), torch.zeros(4))


def test_loss_falls_on_a_real_cifar10_subset(cifar10_path, tmp_path):
    args = parse_args(
        [
            "--dataset", str(cifar10_path), "--model_type", "ibit", "--preset", "micro-patch4-32",
            "--train_fraction", "0.02", "--max_eval_samples", "500", "--num_train_epochs", "3",
            "--per_device_train_batch_size", "50", "--learning_rate", "1e-3", "--logging_steps", "5",
            "--output_dir", str(tmp_path), "--do_train", "--do_eval", "--save_strategy", "no",
            "--report_to", "none", "--seed", "0", "--dataloader_pin_memory", "false",
        ]
    )  # fmt: skip
    trainer, metrics = run(*args)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert np.mean(losses[-3:]) < np.mean(losses[:2]) - 0.05, losses
    assert metrics["eval_accuracy"] > 0.15
