"""CADA-ResNet: the CADA layer against real depthwise convolutions, the ablation switches, presets, and training."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModelForImageClassification

from inductive_zoo import CADAResNetConfig, CADAResNetForImageClassification, CADAResNetModel
from inductive_zoo.layers import ContextAwareDecomposedAttention
from inductive_zoo.models.cada_resnet import CADAResNetBottleneck
from inductive_zoo.training.image_classification import build_trainer, parse_args, run


def cada_layer(**kwargs) -> ContextAwareDecomposedAttention:
    """A CADA layer with random kernels, context projection and coefficient logits (none of them at their init)."""
    torch.manual_seed(0)
    layer = ContextAwareDecomposedAttention(**{"channels": 8, "num_bases": 3, "kernel_size": 3, **kwargs})
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.normal_()
    return layer


def depthwise_conv(hidden_states: torch.Tensor, kernel: torch.Tensor, stride: int) -> torch.Tensor:
    """The reference: `F.conv2d` with one `(k, k)` kernel per channel, "same" zero padding."""
    padding = kernel.shape[-1] // 2
    return F.conv2d(hidden_states, kernel.unsqueeze(1), stride=stride, padding=padding, groups=len(kernel))


def images(height: int = 9, width: int = 11) -> torch.Tensor:
    return torch.randn(2, 8, height, width, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("relative_position", [False, True])
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_one_base_is_a_depthwise_convolution(stride, relative_position, kernel_size):
    # With one base, softmax makes its coefficient 1 at every pixel, whatever the (random) context projection says.
    layer = cada_layer(
        num_bases=1, kernel_size=kernel_size, stride=stride, relative_position=relative_position, context_groups=2
    )
    hidden_states = images()
    expected = depthwise_conv(hidden_states, layer.base_kernels[0, :, 0], stride)
    if relative_position:
        expected = expected + depthwise_conv(hidden_states, layer.relative_position_kernel[:, 0], stride)
    with torch.no_grad():
        torch.testing.assert_close(layer(hidden_states), expected, atol=1e-5, rtol=1e-5)
    assert layer(hidden_states).shape == (2, 8, 9 if stride == 1 else 5, 11 if stride == 1 else 6)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("relative_position", [False, True])
def test_fixed_coefficients_mix_the_base_kernels(stride, relative_position):
    # A context projection with zero weights gives the same coefficients softmax(bias) at every pixel: the relaxed
    # layer (computed by mixing B responses per pixel) is then the depthwise conv with the mixed kernel.
    layer = cada_layer(stride=stride, relative_position=relative_position, context_groups=2)
    with torch.no_grad():
        layer.context_weight.zero_()
        coefficients = layer.context_bias.view(2, 3).softmax(dim=-1).repeat_interleave(4, dim=0)  # (C, B)
        kernel = torch.einsum("cb,bckl->ckl", coefficients, layer.base_kernels[:, :, 0])
        if relative_position:
            kernel = kernel + layer.relative_position_kernel[:, 0]
        hidden_states = images()
        torch.testing.assert_close(layer(hidden_states), depthwise_conv(hidden_states, kernel, stride))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("relative_position", [False, True])
def test_strict_invariance_is_a_depthwise_convolution_with_the_mixed_kernel(stride, relative_position):
    layer = cada_layer(invariance="strict", stride=stride, relative_position=relative_position, context_groups=2)
    assert layer.context_weight is None and layer.coefficient_logits.shape == (2, 3)
    hidden_states = images()
    with torch.no_grad():
        coefficients = layer.coefficient_logits.softmax(dim=-1)  # (groups, bases), the same at every pixel
        bases = layer.base_kernels[:, :, 0]  # (B, C, k, k); channels 0-3 are group 0, 4-7 group 1
        kernel = torch.cat([(bases[:, :4] * coefficients[0, :, None, None, None]).sum(0),
                            (bases[:, 4:] * coefficients[1, :, None, None, None]).sum(0)])  # fmt: skip
        if relative_position:
            kernel = kernel + layer.relative_position_kernel[:, 0]
        torch.testing.assert_close(layer(hidden_states), depthwise_conv(hidden_states, kernel, stride))
        reported = layer.coefficients(hidden_states)
    assert reported.shape == (2, 2, 3, *layer(hidden_states).shape[-2:])
    torch.testing.assert_close(reported, coefficients[None, :, :, None, None].expand_as(reported))


@pytest.mark.parametrize("stride", [1, 2])
def test_relaxed_coefficients_vary_per_pixel_and_sum_to_one(stride):
    layer = cada_layer(stride=stride, context_groups=2)
    hidden_states = images()
    with torch.no_grad():
        coefficients = layer.coefficients(hidden_states)
        assert coefficients.shape == (2, 2, 3, *layer(hidden_states).shape[-2:])
        torch.testing.assert_close(coefficients.sum(dim=2), torch.ones(2, 2, *coefficients.shape[-2:]))
        assert coefficients.flatten(3).std(dim=-1).min() > 0.05  # every group and base varies over the pixels
        # The context of an output pixel is the input pixel at the centre of its window: x[..., ::2, ::2] at stride 2.
        logits = F.conv2d(hidden_states[..., ::stride, ::stride], layer.context_weight, layer.context_bias)
        torch.testing.assert_close(coefficients, logits.view(2, 2, 3, *logits.shape[-2:]).softmax(dim=2))
        # Not a convolution: the output depends on the content through the coefficients.
        doubled = layer(2 * hidden_states)
        assert not torch.allclose(doubled, 2 * layer(hidden_states), atol=1e-3)


def test_zero_context_gives_uniform_coefficients_at_initialisation():
    model = CADAResNetModel(CADAResNetConfig.from_preset("micro-32", num_bases=4)).eval()
    layers = [module for module in model.modules() if isinstance(module, ContextAwareDecomposedAttention)]
    assert len(layers) == 3
    for layer in layers:
        assert torch.all(layer.context_weight == 0) and torch.all(layer.context_bias == 0)
        coefficients = layer.coefficients(torch.randn(1, layer.channels, 4, 4))
        torch.testing.assert_close(coefficients, torch.full_like(coefficients, 0.25))
        # He init in fan-out mode for a depthwise conv: fan_out = k^2 outputs per input.
        for kernel in (layer.base_kernels, layer.relative_position_kernel):
            assert 0.8 * (2 / 9) ** 0.5 < kernel.std().item() < 1.2 * (2 / 9) ** 0.5


def test_trained_looking_weights_survive_save_and_from_pretrained(tmp_path):
    for invariance in ("relaxed", "strict"):
        torch.manual_seed(0)
        model = CADAResNetForImageClassification(
            CADAResNetConfig.from_preset("micro-32", num_labels=3, invariance=invariance)
        )
        with torch.no_grad():
            for tensor in [*model.parameters(), *(b for n, b in model.named_buffers() if "running" in n)]:
                tensor.uniform_(0.5, 1.5)
        model.save_pretrained(tmp_path / invariance)
        reloaded = AutoModelForImageClassification.from_pretrained(tmp_path / invariance)
        for name, tensor in model.state_dict().items():
            torch.testing.assert_close(reloaded.state_dict()[name], tensor, msg=name)


def stride_of(mixer: nn.Module) -> int:
    return mixer.stride if isinstance(mixer, ContextAwareDecomposedAttention) else mixer.stride[0]


def test_ablation_switches_change_the_modules_as_documented():
    def blocks(**overrides) -> list[nn.Module]:
        model = CADAResNetModel(CADAResNetConfig.from_preset("micro-32", **overrides))
        return [module.mixer for module in model.modules() if isinstance(module, CADAResNetBottleneck)]

    default = blocks()
    assert [stride_of(mixer) for mixer in default] == [1, 2, 2]
    assert all(isinstance(mixer, ContextAwareDecomposedAttention) for mixer in default)
    # B = 4 bases and the relative-position kernel for each channel, 3x3.
    assert [mixer.base_kernels.shape for mixer in default] == [(4, width, 1, 3, 3) for width in (16, 32, 64)]
    assert [mixer.relative_position_kernel.shape for mixer in default] == [(width, 1, 3, 3) for width in (16, 32, 64)]

    # CADA only at stride 1: plain (dense) 3x3 stride-2 convolutions in the downsampling blocks.
    downsampling = blocks(cada_in_downsampling=False)
    assert isinstance(downsampling[0], ContextAwareDecomposedAttention)
    for mixer in downsampling[1:]:
        assert type(mixer) is nn.Conv2d
        assert (mixer.kernel_size, mixer.stride, mixer.groups) == ((3, 3), (2, 2), 1)

    # The plain ResNet of the same layout: no CADA anywhere.
    plain = CADAResNetModel(CADAResNetConfig.from_preset("micro-32", mixer="conv"))
    assert not any(isinstance(module, ContextAwareDecomposedAttention) for module in plain.modules())
    assert all(type(mixer) is nn.Conv2d and mixer.groups == 1 for mixer in blocks(mixer="conv"))

    strict = blocks(invariance="strict", num_bases=2, kernel_size=5, relative_position=False, context_groups=4)
    for mixer, width in zip(strict, [16, 32, 64], strict=True):
        assert mixer.context_weight is None and mixer.coefficient_logits.shape == (4, 2)
        assert mixer.base_kernels.shape == (2, width, 1, 5, 5) and mixer.relative_position_kernel is None
    relaxed = blocks(context_groups=4)
    assert [mixer.context_weight.shape for mixer in relaxed] == [(16, 16, 1, 1), (16, 32, 1, 1), (16, 64, 1, 1)]


@pytest.mark.parametrize(
    ("preset", "depths", "image_size", "final_map"),
    [
        ("micro-32", [1, 1, 1], 32, (256, 8, 8)),
        ("resnet26-32", [2, 2, 2, 2], 32, (2048, 4, 4)),
        ("resnet50-32", [3, 4, 6, 3], 32, (2048, 4, 4)),
        ("resnet50-224", [3, 4, 6, 3], 224, (2048, 7, 7)),
    ],
)
def test_presets_build_with_their_stage_layout_and_produce_logits(preset, depths, image_size, final_map):
    config = CADAResNetConfig.from_preset(preset, num_labels=10)
    model = CADAResNetForImageClassification(config).eval()
    assert [len(stage) for stage in model.backbone.stages] == depths
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, image_size, image_size), output_hidden_states=True)
    assert outputs.logits.shape == (1, 10) and torch.isfinite(outputs.logits).all()
    assert outputs.hidden_states[-1].shape[1:] == final_map
    plain = sum(p.numel() for p in CADAResNetModel(CADAResNetConfig.from_preset(preset, mixer="conv")).parameters())
    if preset == "resnet50-224":
        assert plain == 23_508_032  # torchvision's resnet50 without its fc layer
    assert sum(p.numel() for p in model.backbone.parameters()) < plain  # depthwise bases are lighter than 3x3 convs


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_bases": 0}, "num_bases must be a positive integer"),
        ({"kernel_size": 4}, "kernel_size must be a positive odd integer"),
        ({"invariance": "none"}, "invariance must be one of"),
        ({"mixer": "attention"}, "mixer must be one of"),
        ({"context_groups": 3}, r"context_groups \(3\) must divide every bottleneck width \[16, 32, 64\]"),
        ({"relative_position": "yes"}, "relative_position: Field .relative_position. expected bool, got str"),
        ({"cada_in_downsampling": 1}, "cada_in_downsampling: Field .cada_in_downsampling. expected bool, got int"),
    ],
)
def test_invalid_cada_configs_raise_value_error_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        CADAResNetConfig.from_preset("micro-32", **overrides)


def test_plain_resnet_accepts_any_context_groups_and_unknown_presets_are_named():
    assert CADAResNetConfig.from_preset("micro-32", mixer="conv", context_groups=3).context_groups == 3
    with pytest.raises(ValueError, match="unknown preset 'resnet18-32'"):
        CADAResNetConfig.from_preset("resnet18-32")


def test_recipe_builds_the_cifar_presets(tmp_path):
    args = parse_args(
        [
            "--model_type", "cada_resnet",
            "--preset", "resnet26-32",
            "--config_overrides", "invariance=strict,num_bases=2",
            "--output_dir", str(tmp_path),
            "--report_to", "none",
        ]
    )  # fmt: skip
    trainer = build_trainer(*args)
    config = trainer.model.config
    assert (config.model_type, config.depths, config.invariance, config.num_bases) == (
        "cada_resnet",
        [2, 2, 2, 2],
        "strict",
        2,
    )
    assert trainer.processing_class.size == {"height": 32, "width": 32}


def test_loss_falls_on_a_real_cifar10_subset(cifar10_path, tmp_path):
    args = parse_args(
        [
            "--dataset", str(cifar10_path),
            "--model_type", "cada_resnet",
            "--preset", "micro-32",
            "--train_fraction", "0.016",
            "--max_eval_samples", "200",
            "--num_train_epochs", "3",
            "--output_dir", str(tmp_path),
            "--do_train", "--do_eval",
            "--per_device_train_batch_size", "32",
            "--per_device_eval_batch_size", "200",
            "--learning_rate", "3e-3",
            "--warmup_steps", "5",
            "--lr_scheduler_type", "cosine",
            "--eval_strategy", "no",
            "--save_strategy", "no",
            "--logging_steps", "5",
            "--report_to", "none",
            "--seed", "0",
            "--dataloader_pin_memory", "false",
        ]
    )  # fmt: skip
    trainer, metrics = run(*args)
    assert len(trainer.train_dataset) == 800
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert np.mean(losses[-3:]) < np.mean(losses[:2]) - 0.15, losses
    assert metrics["eval_accuracy"] > 0.18, metrics  # chance is 0.1 (0.32 in our run)
    # The coefficients left their uniform start: the context projections learned.
    layers = [module for module in trainer.model.modules() if isinstance(module, ContextAwareDecomposedAttention)]
    assert all(layer.context_weight.abs().max() > 0 for layer in layers)
    assert (tmp_path / "model.safetensors").exists()
