"""Every self-supervised objective (masked image modeling, SimCLR, DINO) trains every variant with `Trainer`, and
`PRSCallback` drives PRS-ViT's reparameterization under each of them (DINO's teacher switches with its student)."""

import pytest
import torch
from conftest import tiny_config
from torch.utils.data import Dataset
from transformers import Trainer, TrainingArguments

import inductive_zoo
from inductive_zoo.training.dino_teacher import DINOTeacherCallback
from inductive_zoo.training.prs_switches import PRSCallback

OBJECTIVES = ("mim", "simclr", "dino")
# Small joint-embedding heads: the defaults (DINO: 4096 prototypes) would dominate a tiny backbone's cost.
HEADS = dict(simclr_hidden_size=16, simclr_projection_size=8, dino_out_features=16, dino_hidden_size=16)


class RandomImages(Dataset):
    """8 random 16x16 images: as `pixel_values` (masked image modeling) or as 2 views (joint embedding)."""

    def __init__(self, objective: str) -> None:
        self.images = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        self.objective = objective

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = self.images[index]
        if self.objective == "mim":
            return {"pixel_values": image}
        return {"global_views": torch.stack([image, image.flip(-1)])}


def stack_views(examples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """`(views, batch, C, H, W)` global views, or `(batch, C, H, W)` pixels."""
    key = next(iter(examples[0]))
    return {key: torch.stack([example[key] for example in examples], dim=1 if key == "global_views" else 0)}


def objective_model(objective: str, config_class: type) -> torch.nn.Module:
    config = tiny_config(config_class, **HEADS)
    if objective == "mim":
        return inductive_zoo.MASKED_IMAGE_MODELING_MODELS[config_class](config)
    return inductive_zoo.SELF_SUPERVISED_MODELS[objective](config)


def train_two_epochs(model: torch.nn.Module, objective: str, tmp_path, callbacks: list) -> Trainer:
    arguments = TrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=4, learning_rate=1e-3,
        save_strategy="no", report_to="none", logging_steps=1, remove_unused_columns=False,
        dataloader_pin_memory=False, use_cpu=True, seed=0,
    )  # fmt: skip
    if objective == "dino":
        callbacks = [*callbacks, DINOTeacherCallback()]
    trainer = Trainer(
        model=model, args=arguments, train_dataset=RandomImages(objective), data_collator=stack_views,
        callbacks=callbacks,
    )  # fmt: skip
    trainer.train()
    return trainer


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("config_class", [pytest.param(c, id=c.model_type) for c, _, _ in inductive_zoo.VARIANTS])
def test_objective_trains_the_variant(objective, config_class, tmp_path):
    torch.manual_seed(0)
    model = objective_model(objective, config_class)
    before = {name: tensor.detach().clone() for name, tensor in model.backbone.named_parameters()}
    trainer = train_two_epochs(model, objective, tmp_path, [])
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    moved = [name for name, tensor in model.backbone.named_parameters() if not torch.equal(tensor, before[name])]
    assert moved, "no backbone parameter was trained"


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_prs_callback_switches_prs_vit_under_every_objective(objective, tmp_path):
    torch.manual_seed(0)
    model = objective_model(objective, inductive_zoo.PRSViTConfig)
    assert model.layer_modes == ["convolution"]
    trainer = train_two_epochs(model, objective, tmp_path, [PRSCallback("uniform", conv_epochs=1)])
    assert model.layer_modes == ["attention"]
    switches = [entry for entry in trainer.state.log_history if "prs_switched_layer" in entry]
    assert switches == [{"prs_switched_layer": 0, "prs_switch_epoch": 1, "step": 2}]
    if objective == "dino":
        assert model.teacher_backbone.layer_modes == ["attention"]


@pytest.mark.parametrize("objective", ["simclr", "dino"])
def test_prs_scheduling_of_a_joint_embedding_model_of_another_variant_is_refused(objective, tmp_path):
    model = objective_model(objective, inductive_zoo.IsoTransformerConfig)
    assert not hasattr(model, "layer_modes")
    with pytest.raises(ValueError, match=r"PRSCallback needs a PRS-ViT model.*IsoTransformerConfig"):
        train_two_epochs(model, objective, tmp_path, [PRSCallback("uniform", conv_epochs=1)])
