"""SimCLR and DINO models on zoo backbones: short real CIFAR-10 runs with plain `Trainer`, the teacher's EMA, an exact
DINO resume, and loading the pre-trained backbone into the classifier."""

import numpy as np
import pytest
import torch
from conftest import tiny_config
from transformers import AutoModelForImageClassification, Trainer, TrainerCallback, TrainingArguments

import inductive_zoo
from inductive_zoo import IsoConvNetConfig, IsoTransformerConfig
from inductive_zoo.data import IMAGENET_MEAN, IMAGENET_STD, DecodedImageDataset, load_image_dataset
from inductive_zoo.data.views import MultiViewCollator, MultiViewConfig
from inductive_zoo.models.registry import MANIFESTS
from inductive_zoo.objectives.joint_embedding import DINOModel, SimCLRModel
from inductive_zoo.objectives.self_distillation import teacher_momentum
from inductive_zoo.training.dino_teacher import DINOTeacherCallback

HEADS = dict(
    simclr_hidden_size=64,
    simclr_projection_size=32,
    # Found by a small scan to learn rather than collapse in a run this short: a sharp teacher, a slow center.
    dino_out_features=1024,
    dino_hidden_size=64,
    dino_bottleneck_size=32,
    dino_center_momentum=0.99,
    dino_warmup_teacher_temperature=0.015,
    dino_teacher_temperature=0.02,
    dino_warmup_teacher_temperature_epochs=2,
)
DINO_ARGS = dict(num_train_epochs=8, learning_rate=5e-4, warmup_steps=8, weight_decay=0.04)
STEPS_PER_EPOCH = 4  # 128 images, batches of 32


def config_of(config_class, **overrides):
    return tiny_config(config_class, **{"image_size": 32, "patch_size": 4, **HEADS, **overrides})


@pytest.fixture(scope="module")
def train_dataset(cifar10_path):
    data = load_image_dataset(str(cifar10_path))
    return DecodedImageDataset(
        data.splits["train"].select(range(128)), "train", data.image_column, data.label_column, 32
    )


def make_trainer(model, train_dataset, output_dir, views: MultiViewConfig, callbacks=(), **overrides):
    args = TrainingArguments(
        **{
            "output_dir": str(output_dir),
            "per_device_train_batch_size": 32,
            "num_train_epochs": 3,
            "learning_rate": 2e-3,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
            "seed": 0,
            "remove_unused_columns": False,
            "dataloader_pin_memory": False,
            **overrides,
        }
    )
    collator = MultiViewCollator(views, IMAGENET_MEAN, IMAGENET_STD)
    return Trainer(
        model=model, args=args, train_dataset=train_dataset, data_collator=collator, callbacks=list(callbacks)
    )


def losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def dino(config_class=IsoTransformerConfig, **overrides) -> DINOModel:
    torch.manual_seed(0)
    return DINOModel(config_of(config_class, **overrides))


def assert_backbone_loads_into_the_classifier(model, directory) -> None:
    model.save_pretrained(directory)
    classifier, info = AutoModelForImageClassification.from_pretrained(directory, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    loaded = classifier.state_dict()
    for name, tensor in model.backbone.state_dict().items():
        torch.testing.assert_close(loaded[f"backbone.{name}"], tensor, atol=0, rtol=0, msg=name)


@pytest.mark.parametrize("model_class", [SimCLRModel, DINOModel], ids=["simclr", "dino"])
def test_one_class_per_objective_wraps_every_variant_s_backbone_and_reloads_it(model_class, tmp_path):
    for config_class, backbone, _ in inductive_zoo.VARIANTS:
        model = model_class(tiny_config(config_class, **HEADS))
        assert type(model.backbone) is backbone and model.base_model_prefix == "backbone"
    model.save_pretrained(tmp_path)
    reloaded = model_class.from_pretrained(tmp_path)
    assert type(reloaded.config) is config_class and type(reloaded.backbone) is backbone
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[name], tensor, atol=0, rtol=0, msg=name)


@pytest.mark.parametrize("config_class", [IsoTransformerConfig, IsoConvNetConfig])
def test_simclr_loss_falls_on_real_cifar10_and_the_backbone_loads_into_the_classifier(
    config_class, train_dataset, tmp_path
):
    torch.manual_seed(0)
    model = SimCLRModel(config_of(config_class, simclr_temperature=0.5))
    assert model.temperature == 0.5
    trainer = make_trainer(model, train_dataset, tmp_path / "run", MultiViewConfig.simclr(32), num_train_epochs=4)
    trainer.train()
    history = losses(trainer)
    assert np.mean(history[-4:]) < np.mean(history[:4]) - 0.1, history
    assert_backbone_loads_into_the_classifier(trainer.model, tmp_path / "saved")


def test_dino_trains_its_student_moves_its_teacher_by_ema_and_resumes_exactly(train_dataset, tmp_path):
    views = MultiViewConfig.dino(32, num_local_views=2, patch_size=4)  # local views at 12 px
    callback = DINOTeacherCallback()
    model = dino()
    student_start = {name: p.detach().clone() for name, p in model.backbone.named_parameters()}
    for name, parameter in model.teacher_backbone.named_parameters():
        assert not parameter.requires_grad
        torch.testing.assert_close(parameter, student_start[name], atol=0, rtol=0)
        assert parameter.data_ptr() != model.backbone.get_parameter(name).data_ptr()

    uninterrupted = make_trainer(model, train_dataset, tmp_path / "a", views, [callback], **DINO_ARGS)
    uninterrupted.train()
    history = losses(uninterrupted)
    # Measured: about 2.7 over the first 4 steps, 1.2 over the last 4 (32 steps).
    assert np.mean(history[-4:]) < np.mean(history[:4]) - 0.3, history
    assert uninterrupted.model.dino_epoch == pytest.approx(8.0)
    assert not torch.equal(uninterrupted.model.dino_loss.center, torch.zeros_like(uninterrupted.model.dino_loss.center))
    teacher = dict(uninterrupted.model.teacher_backbone.named_parameters())
    moved = [name for name, p in uninterrupted.model.backbone.named_parameters() if not torch.equal(p, teacher[name])]
    assert len(moved) == len(teacher)  # the teacher lags behind the student...
    assert any(not torch.equal(teacher[name], student_start[name]) for name in teacher)  # ...but follows it

    class StopAfterEpoch(TrainerCallback):
        def on_epoch_end(self, args, state, control, **kwargs):
            if round(state.epoch) == 3:
                control.should_training_stop = True

    stopped = make_trainer(
        dino(), train_dataset, tmp_path / "b", views, [callback, StopAfterEpoch()],
        save_strategy="steps", save_steps=STEPS_PER_EPOCH, **DINO_ARGS,
    )  # fmt: skip
    stopped.train()
    assert stopped.model.dino_epoch == pytest.approx(3.0)  # mid-warm-up of the teacher temperature
    resumed = make_trainer(dino(), train_dataset, tmp_path / "b", views, [callback], **DINO_ARGS)
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / f"checkpoint-{3 * STEPS_PER_EPOCH}"))
    final = uninterrupted.model.state_dict()
    for name, tensor in resumed.model.state_dict().items():  # teacher, student and center, bitwise
        torch.testing.assert_close(tensor, final[name], atol=0, rtol=0, msg=name)
    assert_backbone_loads_into_the_classifier(uninterrupted.model, tmp_path / "saved")


def test_teacher_callback_applies_one_ema_step_of_the_cosine_schedule():
    model = dino(IsoConvNetConfig)
    with torch.no_grad():
        for parameter in model.backbone.parameters():
            parameter.add_(torch.randn_like(parameter))
    student = {name: p.detach().clone() for name, p in model.backbone.named_parameters()}
    teacher = {name: p.detach().clone() for name, p in model.teacher_backbone.named_parameters()}

    class State:
        global_step, max_steps, epoch = 3, 10, 0.75

    DINOTeacherCallback(base_momentum=0.9).on_step_end(None, State(), None, model=model)
    momentum = teacher_momentum(2, 10, 0.9)
    assert 0.9 < momentum < 1.0 and model.dino_epoch == 0.75
    for name, parameter in model.teacher_backbone.named_parameters():
        torch.testing.assert_close(parameter, momentum * teacher[name] + (1 - momentum) * student[name], msg=name)
    for name, parameter in model.backbone.named_parameters():
        assert torch.equal(parameter, student[name])


@pytest.mark.parametrize(
    "config_class",
    [manifest.config_class for manifest in MANIFESTS if not manifest.model_class.runs_at_any_image_size],
    ids=str,
)
def test_dino_refuses_local_views_on_fixed_size_backbones(config_class):
    model = dino(config_class)
    global_views, local_views = torch.randn(2, 2, 3, 32, 32), torch.randn(2, 2, 3, 12, 12)
    with pytest.raises(ValueError, match="cannot run at another image size"):
        model(global_views, local_views=local_views)
    assert torch.isfinite(model(global_views).loss)  # global views only are fine
