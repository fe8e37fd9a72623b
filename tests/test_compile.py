"""`torch.compile` (`--torch_compile`) on every variant: the compiled model computes what the eager one does, in the
forward pass and in the gradients of one training step."""

import pytest
import torch
from conftest import CONFIG_CLASSES, tiny_config
from transformers import AutoModelForImageClassification

# Compiled kernels fuse and reorder float32 arithmetic: results agree to rounding, not bit for bit.
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_compiled_model_matches_eager(config_class):
    torch.manual_seed(0)
    model = AutoModelForImageClassification.from_config(tiny_config(config_class, drop_path_rate=0.0)).train()
    pixels = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(4) % model.config.num_labels

    def step(module: torch.nn.Module) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad()
        outputs = module(pixel_values=pixels, labels=labels)
        outputs.loss.backward()
        gradients = {
            name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None
        }
        return outputs.logits.detach(), gradients

    eager_logits, eager_gradients = step(model)
    compiled_logits, compiled_gradients = step(torch.compile(model))  # about a minute per variant on a CPU
    torch.testing.assert_close(compiled_logits, eager_logits, **TOLERANCE)
    assert compiled_gradients.keys() == eager_gradients.keys()
    for name, gradient in eager_gradients.items():
        torch.testing.assert_close(compiled_gradients[name], gradient, **TOLERANCE, msg=name)
