"""PRS-ViT: exact convolution-to-attention reparameterization, saved modes, and the schedule as a Trainer callback."""

import json

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig, AutoModelForImageClassification, TrainerCallback

from inductive_zoo import PRSCallback, PRSViTConfig, PRSViTForImageClassification
from inductive_zoo.analysis import attention_mass_outside
from inductive_zoo.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DecodedImageDataset,
    ImageClassificationCollator,
    load_image_dataset,
)
from inductive_zoo.layers import kernel_offsets
from inductive_zoo.training.image_classification import build_trainer, parse_args
from inductive_zoo.training.prs_switches import prs_switch_epochs


@pytest.fixture(scope="module")
def cifar_pixels(cifar10_path) -> torch.Tensor:
    data = load_image_dataset(str(cifar10_path))
    dataset = DecodedImageDataset(data.splits["test"].select(range(16)), "test", "img", "label", 32)
    return ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD)(dataset.__getitems__(list(range(16))))[
        "pixel_values"
    ]


def prs_model(**overrides) -> PRSViTForImageClassification:
    """A micro PRS-ViT whose linear layers have fan-in scaled weights, so every block changes the logits a lot."""
    torch.manual_seed(0)
    model = PRSViTForImageClassification(PRSViTConfig.from_preset("micro-patch4-32", num_labels=10, **overrides))
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.reset_parameters()
    return model.eval()


def relative_difference(reference: torch.Tensor, other: torch.Tensor) -> float:
    return float((reference - other).norm() / reference.norm())


@pytest.mark.parametrize("layers", [[0], [2], [0, 1, 2]], ids=["first", "last", "all"])
def test_reparameterize_preserves_the_function_on_real_images(cifar_pixels, layers):
    model = prs_model()
    with torch.no_grad():
        before = model(cifar_pixels).logits
        assert model.reparameterize(layers) == layers
        after = model(cifar_pixels).logits
    assert [mode == "attention" for mode in model.layer_modes] == [index in layers for index in range(3)]
    assert model.config.attention_layers == layers
    assert relative_difference(before, after) < 1e-3
    # The attention path ran: the weight of content attention gets a gradient in every switched block only.
    model(cifar_pixels).logits.logsumexp(dim=-1).sum().backward()
    for index, mixer in enumerate(model.backbone.reparameterizable_mixers):
        gradient = mixer.gating_param.grad
        assert (gradient is not None and gradient.abs().max() > 0) == (index in layers)


@pytest.mark.parametrize("layers", [[0, 1, 2]])
def test_switched_blocks_can_leave_the_convolution_only_with_the_linear_gate(cifar_pixels, layers):
    """The gradient on the content-attention weight of a freshly switched block: of order one with the linear gate,
    scaled by sigmoid'(10) ~ 4.5e-5 with the saturated gate of configs saved before `reparameterization_switch`."""
    gradients = {}
    for switch in ("linear_gate", "saturated_gate"):
        model = prs_model(reparameterization_switch=switch)
        model.reparameterize(layers)
        model(cifar_pixels).logits.logsumexp(dim=-1).sum().backward()
        gradients[switch] = torch.stack(
            [mixer.gating_param.grad.abs().mean() for mixer in model.backbone.reparameterizable_mixers]
        )
    assert (gradients["linear_gate"] > 1000 * gradients["saturated_gate"]).all(), gradients


def test_the_switch_is_linear_by_default_and_a_misspelt_one_is_refused(tmp_path):
    assert PRSViTConfig().reparameterization_switch == "linear_gate"
    PRSViTConfig(reparameterization_switch="saturated_gate").save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).reparameterization_switch == "saturated_gate"
    with pytest.raises(ValueError, match="reparameterization_switch must be one of"):
        PRSViTConfig(reparameterization_switch="soft")


def test_the_content_gain_is_saved_with_the_model_and_changes_its_function(cifar_pixels, tmp_path):
    """The gain `g` of `s_h = g * gating_param` is part of the saved function: a model saved with gain 1 loads with
    gain 1 and its logits, and gain 4 (the default) computes another function."""
    model = prs_model()
    model.reparameterize([0, 1, 2])
    with torch.no_grad():
        for mixer in model.backbone.reparameterizable_mixers:
            mixer.gating_param.normal_(std=0.1)
    model.config.reparameterization_content_gain = 1.0
    model.save_pretrained(tmp_path)
    with torch.no_grad():
        old_function = model(cifar_pixels).logits
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.reparameterization_content_gain == 1.0
    assert PRSViTConfig().reparameterization_content_gain == 4.0
    with torch.no_grad():
        torch.testing.assert_close(loaded(cifar_pixels).logits, old_function)
        loaded.config.reparameterization_content_gain = 4.0
        assert relative_difference(old_function, loaded(cifar_pixels).logits) > 1e-2


def test_switched_blocks_leave_the_neighbourhood_within_60_steps(cifar10_path):
    """A fresh micro PRS-ViT with every block switched at step 0, 60 AdamW steps (batch 64, constant lr 1e-3) on
    CIFAR-10 training images: every switched block puts over 1 % of its attention outside each query's 3x3
    neighbourhood (on 256 test images), where the saturated gate keeps about 4e-5."""
    data = load_image_dataset(str(cifar10_path))
    collate = ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD)

    def images(split: str, count: int) -> list[dict]:
        dataset = DecodedImageDataset(
            data.splits[split].shuffle(seed=0).select(range(count)), split, "img", "label", 32
        )
        return [collate(dataset.__getitems__(list(range(start, start + 64)))) for start in range(0, count, 64)]

    torch.manual_seed(0)
    model = PRSViTForImageClassification(PRSViTConfig.from_preset("micro-patch4-32", num_labels=10))
    model.reparameterize([0, 1, 2])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    model.train()
    for batch in images("train", 64 * 60):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    test_pixels = torch.cat([batch["pixel_values"] for batch in images("test", 256)])
    with torch.no_grad():
        attentions = model.eval()(test_pixels, output_attentions=True).attentions
    mass = [attention_mass_outside(attentions[block], (8, 8)) for block in range(3)]
    assert min(mass) > 1e-2, mass


def test_reparameterize_preserves_border_tokens(cifar_pixels):
    model = prs_model()
    grid = torch.zeros(8, 8, dtype=torch.bool)
    grid[[0, -1], :] = grid[:, [0, -1]] = True
    border = grid.reshape(-1)
    with torch.no_grad():
        before = model.backbone(cifar_pixels, output_hidden_states=True).hidden_states[1][:, border]
        model.reparameterize([0])
        after = model.backbone(cifar_pixels, output_hidden_states=True).hidden_states[1][:, border]
    assert relative_difference(before, after) < 1e-3
    # The residual branch of the switched block alone, border tokens only.
    block = model.backbone.layers[0]
    tokens = torch.randn(4, 64, model.config.hidden_size)
    with torch.no_grad():
        attention_out = block.token_mixer(tokens, grid_size=(8, 8))[0]
        block.token_mixer.is_attention = False
        convolution_out = block.token_mixer(tokens, grid_size=(8, 8))[0]
    assert relative_difference(convolution_out[:, border], attention_out[:, border]) < 1e-3


def test_convolution_mode_is_a_replicate_padded_convolution():
    model = prs_model()
    mixer = model.backbone.layers[0].token_mixer
    channels, head_dim = model.config.hidden_size, mixer.head_dim
    tokens = torch.randn(2, 64, channels)
    # Tap (dy, dx) of the equivalent k x k kernel is W_o[:, head] @ W_v[head, :] for the head with that offset.
    kernel = torch.zeros(channels, channels, 3, 3)
    for head, (dx, dy) in enumerate(kernel_offsets(mixer.num_heads)):
        rows = slice(head * head_dim, (head + 1) * head_dim)
        kernel[:, :, int(dy) + 1, int(dx) + 1] = mixer.proj.weight[:, rows] @ mixer.v.weight[rows, :]
    grid = tokens.transpose(1, 2).reshape(2, channels, 8, 8)
    expected = F.conv2d(F.pad(grid, (1, 1, 1, 1), mode="replicate"), kernel, mixer.proj.bias)
    with torch.no_grad():
        output, attention = mixer(tokens, grid_size=(8, 8), output_attentions=True)
    torch.testing.assert_close(output, expected.flatten(2).transpose(1, 2), atol=1e-4, rtol=1e-4)
    # The attention-shaped view of convolution mode is one-hot and computes the same output.
    assert attention.shape == (2, 9, 64, 64) and torch.all(attention.sum(-1) == 1)
    value = mixer.v(tokens).reshape(2, 64, 9, head_dim).transpose(1, 2)
    via_attention = mixer.proj((attention @ value).transpose(1, 2).reshape(2, 64, channels))
    torch.testing.assert_close(via_attention, output, atol=1e-5, rtol=1e-5)


def test_convolution_mode_trains_after_an_evaluation_under_inference_mode():
    model = PRSViTForImageClassification(PRSViTConfig.from_preset("micro-patch4-32", num_labels=10))
    pixel_values = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        expected = model(pixel_values).logits
    logits = model(pixel_values).logits
    logits.sum().backward()  # would raise "Inference tensors cannot be saved for backward" with a shared index
    torch.testing.assert_close(logits.detach(), expected)
    assert all(parameter.grad is not None for parameter in model.backbone.layers[0].token_mixer.v.parameters())


def test_half_switched_model_round_trips_in_its_modes(cifar_pixels, tmp_path):
    model = prs_model()
    model.reparameterize([1])
    model.save_pretrained(tmp_path)
    assert '"attention_layers": [\n    1\n  ]' in (tmp_path / "config.json").read_text()
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert reloaded.layer_modes == ["convolution", "attention", "convolution"]
    with torch.no_grad():
        torch.testing.assert_close(reloaded(cifar_pixels).logits, model(cifar_pixels).logits)
    # load_state_dict (what Trainer does on resume) restores the modes from the weights alone.
    fresh = prs_model()
    fresh.load_state_dict(model.state_dict())
    assert fresh.layer_modes == model.layer_modes and fresh.config.attention_layers == [1]


def test_attention_only_parameters_are_in_the_optimizer_from_step_zero():
    model = prs_model().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    mixer = model.backbone.layers[0].token_mixer
    attention_only = [mixer.qk.weight, mixer.pos_proj.weight, mixer.pos_proj.bias, mixer.gating_param]
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert all(id(p) in held for p in attention_only)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(torch.randn(4, 3, 32, 32), labels=torch.tensor([0, 1, 2, 3])).loss.backward()
        optimizer.step()

    step()
    assert all(p.grad is None and p not in optimizer.state for p in attention_only)
    assert mixer.v.weight in optimizer.state
    model.reparameterize([0])
    step()
    assert all(p.grad is not None and optimizer.state[p]["step"] == 1 for p in attention_only)


def test_switch_epochs_of_each_schedule():
    assert prs_switch_epochs("linear", 4, 3) == [4, 2, 0]
    assert prs_switch_epochs("linear", 10, 10) == [10, 9, 8, 7, 6, 4, 3, 2, 1, 0]
    assert prs_switch_epochs("uniform", 4, 3) == [4, 4, 4]
    assert prs_switch_epochs("never", 4, 3) == [None, None, None]
    assert prs_switch_epochs("immediate", 4, 3) == [0, 0, 0]
    with pytest.raises(ValueError, match="schedule must be one of"):
        PRSCallback("cosine", 3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_attention_heads": 4, "hidden_size": 144}, r"must equal kernel_size\*\*2"),
        ({"kernel_size": 2}, "kernel_size must be a positive odd integer"),
        ({"num_reparameterizable_layers": 5}, "num_reparameterizable_layers must be an integer in"),
        ({"num_reparameterizable_layers": 4}, "pooling='cls' needs num_reparameterizable_layers"),
        ({"attention_layers": [3]}, r"attention_layers \[3\] are not reparameterizable"),
    ],
)
def test_invalid_prs_configs(overrides, message):
    with pytest.raises(ValueError, match=message):
        PRSViTConfig.from_preset("micro-patch4-32", **overrides)


def trainer_args(cifar10_path, output_dir, *extra: str) -> tuple:
    return parse_args(
        [
            "--dataset", str(cifar10_path),
            "--model_type", "prs_vit",
            "--preset", "micro-patch4-32",
            "--config_overrides", "hidden_size=72,intermediate_size=144",
            "--schedule", "linear",
            "--conv_epochs", "2",
            "--train_fraction", "0.004",
            "--max_eval_samples", "100",
            "--num_train_epochs", "4",
            "--per_device_train_batch_size", "50",
            "--learning_rate", "1e-3",
            "--output_dir", str(output_dir),
            "--report_to", "none",
            "--seed", "0",
            "--dataloader_pin_memory", "false",
            *extra,
        ]
    )  # fmt: skip


def switches(trainer) -> dict[int, int]:
    return {
        e["prs_switched_layer"]: e["prs_switch_epoch"] for e in trainer.state.log_history if "prs_switch_epoch" in e
    }


class StopAfterEpoch(TrainerCallback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, args, state, control, **kwargs):
        if round(state.epoch) == self.epoch:
            control.should_training_stop = True


def test_schedule_switches_each_layer_at_its_epoch_and_resumes_exactly(cifar10_path, tmp_path):
    uninterrupted = build_trainer(*trainer_args(cifar10_path, tmp_path / "a", "--save_strategy", "no"))
    uninterrupted.train()
    # linear, E = 2, three layers: layer 2 at epoch 0, layer 1 at epoch 1, layer 0 at epoch 2.
    assert switches(uninterrupted) == {2: 0, 1: 1, 0: 2}
    assert uninterrupted.model.layer_modes == ["attention"] * 3
    # After every epoch, the diagnostics of the blocks switched so far, on the fixed evaluation batch.
    diagnostics = [entry for entry in uninterrupted.state.log_history if "prs_content_weight_2" in entry]
    assert [entry["epoch"] for entry in diagnostics] == [1.0, 2.0, 3.0, 4.0]
    switched = [sorted(int(key.rsplit("_", 1)[1]) for key in entry if "content_weight" in key) for entry in diagnostics]
    assert switched == [[2], [1, 2], [0, 1, 2], [0, 1, 2]]
    last = diagnostics[-1]
    assert last["prs_content_weight_2"] != 0.0  # the linear gate moved off the convolution
    assert 1e-4 < last["prs_mass_outside_3x3_2"] < 1 and last["prs_attention_distance_2"] > 0.9

    stopped = build_trainer(*trainer_args(cifar10_path, tmp_path / "b", "--save_strategy", "epoch"))
    stopped.add_callback(StopAfterEpoch(2))  # after epochs 0 and 1: layer 0 is still a convolution
    stopped.train()
    assert stopped.model.layer_modes == ["convolution", "attention", "attention"]
    checkpoint = max((tmp_path / "b").glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))

    resumed = build_trainer(*trainer_args(cifar10_path, tmp_path / "b", "--save_strategy", "no"))
    assert resumed.model.layer_modes == ["convolution"] * 3
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert switches(resumed) == {2: 0, 1: 1, 0: 2}
    assert sum("prs_switch_epoch" in entry for entry in resumed.state.log_history) == 3
    final = dict(uninterrupted.model.named_parameters())
    for name, parameter in resumed.model.named_parameters():
        torch.testing.assert_close(parameter, final[name], atol=0, rtol=0, msg=name)


@pytest.mark.slow
def test_schedule_under_torchrun_with_two_processes(cifar10_path, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "training" / "run_image_classification.py"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script),
        "--dataset", str(cifar10_path), "--model_type", "prs_vit", "--preset", "micro-patch4-32",
        "--config_overrides", "hidden_size=72,intermediate_size=144", "--schedule", "linear", "--conv_epochs", "2",
        "--train_fraction", "0.004", "--num_train_epochs", "3", "--per_device_train_batch_size", "25",
        "--max_eval_samples", "100", "--output_dir", str(tmp_path), "--do_train", "--report_to", "none",
        "--save_strategy", "no", "--dataloader_pin_memory", "false", "--use_cpu", "--ddp_backend", "gloo",
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=tmp_path, timeout=600)
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    # 200 images, 2 processes x 25 per step: 4 steps per epoch, so the batches really are sharded.
    assert state["global_step"] == 12
    log = state["log_history"]
    switched = {e["prs_switched_layer"]: (e["prs_switch_epoch"], e["step"]) for e in log if "prs_switch_epoch" in e}
    assert switched == {2: (0, 0), 1: (1, 4), 0: (2, 8)}
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["attention_layers"] == [0, 1, 2]
