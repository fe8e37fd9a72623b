"""`--bf16` (autocast, fp32 master weights) trains every variant on CPU: 20 steps track the fp32 run's losses, and
(slow) a few hundred steps follow the fp32 run's loss curve."""

import pytest
import torch
from conftest import CONFIG_CLASSES, tiny_config
from torch.utils.data import Dataset
from transformers import AutoModelForImageClassification, Trainer, TrainingArguments

# bf16 keeps 8 bits of mantissa (relative rounding 2^-9 ~ 2e-3 per operation); over 20 AdamW steps the two runs
# drift apart. Measured here: at most 0.0011 (IBiT) between per-step losses of about 1.6; the bound leaves room.
LOSS_TOLERANCE = 0.01


class RandomLabelledImages(Dataset):
    """40 fixed random 16x16 images with fixed random labels: a task the model can only memorise."""

    def __init__(self, num_labels: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.pixels = torch.randn(40, 3, 16, 16, generator=generator)
        self.labels = torch.randint(0, num_labels, (40,), generator=generator)

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.pixels[index], "labels": self.labels[index]}


def losses(config_class: type, bf16: bool, tmp_path, steps: int = 20) -> list[float]:
    torch.manual_seed(0)
    model = AutoModelForImageClassification.from_config(tiny_config(config_class))
    arguments = TrainingArguments(
        output_dir=str(tmp_path / ("bf16" if bf16 else "fp32")), max_steps=steps, per_device_train_batch_size=8,
        learning_rate=1e-3, bf16=bf16, use_cpu=True, save_strategy="no", report_to="none", logging_steps=1,
        dataloader_pin_memory=False, seed=0,
    )  # fmt: skip
    trainer = Trainer(model=model, args=arguments, train_dataset=RandomLabelledImages(model.config.num_labels))
    trainer.train()
    assert model.dtype == torch.float32  # the master weights stay in float32
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_bf16_training_tracks_fp32(config_class, tmp_path):
    fp32, bf16 = losses(config_class, False, tmp_path), losses(config_class, True, tmp_path)
    assert len(fp32) == len(bf16) == 20
    assert max(abs(a - b) for a, b in zip(fp32, bf16, strict=True)) < LOSS_TOLERANCE, (fp32, bf16)
    assert fp32 != bf16  # autocast really ran in bfloat16
    assert bf16[-1] < bf16[0]  # and the model learns


@pytest.mark.slow
@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_bf16_training_follows_fp32_over_300_steps(config_class, tmp_path):
    """Past the first steps the two runs' rounding makes their losses differ step by step; their curves, averaged
    over windows of 30 steps, stay within 0.1 of each other while the model memorises the images."""
    fp32, bf16 = (losses(config_class, bf16, tmp_path, steps=300) for bf16 in (False, True))
    windows = [(sum(run[i : i + 30]) / 30 for i in range(0, 300, 30)) for run in (fp32, bf16)]
    differences = [abs(a - b) for a, b in zip(*windows, strict=True)]
    assert max(differences) < 0.1, (differences, fp32[::30], bf16[::30])
    assert sum(bf16[-30:]) / 30 < sum(bf16[:30]) / 30 - 0.2  # and it learns


def test_cpu_attention_in_bf16_is_explicit_and_matches_fp32():
    from torch import nn
    from torch.nn import functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from inductive_zoo.layers.mixers.attention import ATTENTION_FUNCTIONS, cpu_explicit_sdpa

    # The zoo's `sdpa` is its own, and only for the zoo's models: transformers' table keeps transformers' kernel.
    assert ATTENTION_FUNCTIONS["sdpa"] is cpu_explicit_sdpa and ALL_ATTENTION_FUNCTIONS["sdpa"] is not cpu_explicit_sdpa
    module = nn.Module()
    module.is_causal = False

    def attend(*tensors: torch.Tensor) -> torch.Tensor:  # back to (batch, heads, N, head_dim)
        return cpu_explicit_sdpa(module, *tensors, None, scaling=tensors[0].shape[-1] ** -0.5)[0].transpose(1, 2)

    generator = torch.Generator().manual_seed(0)
    query, key, value = (torch.randn(2, 3, 16, 8, generator=generator) for _ in range(3))
    reference = F.scaled_dot_product_attention(query, key, value)
    reduced = [tensor.bfloat16().requires_grad_() for tensor in (query, key, value)]
    output = attend(*reduced)
    with sdpa_kernel(SDPBackend.MATH):
        math_output = F.scaled_dot_product_attention(*reduced)
    # The same computation as SDPA's math backend, in bf16: equal up to bf16 rounding.
    assert output.dtype == torch.bfloat16
    torch.testing.assert_close(output, math_output, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(output.float(), reference, atol=3e-2, rtol=3e-2)
    output.sum().backward()
    assert all(tensor.grad is not None and torch.isfinite(tensor.grad).all() for tensor in reduced)
    torch.testing.assert_close(attend(query, key, value), reference)  # fp32: transformers' SDPA
