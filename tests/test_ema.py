"""ModelEMACallback with ResumableTrainer: the update formula, exact resume (across a PRS-ViT layer switch),
evaluation with the average, and the average as the final model."""

import copy
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file, load_model
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from inductive_zoo import PRSViTConfig, PRSViTForImageClassification
from inductive_zoo.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DecodedImageDataset,
    ImageClassificationCollator,
    class_balanced_subset,
    load_image_dataset,
)
from inductive_zoo.training.checkpointing import ResumableTrainer
from inductive_zoo.training.ema import EMA_WEIGHTS_NAME, ModelEMACallback, state_tensors
from inductive_zoo.training.prs_switches import PRSCallback

# Digits (embedded, offline): 5 % is 72 training images, 6 steps of 12 per epoch, 18 steps in 3 epochs. The linear
# schedule over 2 convolution epochs switches layer 1 at epoch 0 and layer 0 at epoch 2 (step 12).
BATCH_SIZE, EPOCHS = 12, 3


@pytest.fixture(scope="module")
def digits() -> SimpleNamespace:
    data = load_image_dataset("digits")
    columns = (data.image_column, data.label_column, 16)
    train = class_balanced_subset(data.splits["train"], 0.05, data.label_column)
    evaluation = data.splits[data.eval_split].select(range(24))
    return SimpleNamespace(
        train=DecodedImageDataset(train, "train", *columns),
        evaluation=DecodedImageDataset(evaluation, data.eval_split, *columns),
        num_labels=len(data.label_names),
    )


def make_trainer(digits: SimpleNamespace, output_dir: Path, callbacks: list, **overrides) -> ResumableTrainer:
    """A PRS-ViT with a BatchNorm conv stem (two reparameterizable layers) on digits, checkpoints every 4 steps."""
    torch.manual_seed(0)
    config = tiny_config(
        PRSViTConfig,
        num_hidden_layers=3,
        num_reparameterizable_layers=2,
        patch_embedding="conv_stem",
        num_labels=digits.num_labels,
    )
    args = TrainingArguments(
        **{
            "output_dir": str(output_dir),
            "per_device_train_batch_size": BATCH_SIZE,
            "per_device_eval_batch_size": 24,
            "num_train_epochs": EPOCHS,
            "learning_rate": 3e-3,
            "save_strategy": "steps",
            "save_steps": 4,
            "report_to": "none",
            "seed": 0,
            "remove_unused_columns": False,
            "dataloader_pin_memory": False,
            **overrides,
        }
    )
    return ResumableTrainer(
        model=PRSViTForImageClassification(config),
        args=args,
        train_dataset=digits.train,
        eval_dataset=digits.evaluation,
        data_collator=ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD),
        callbacks=callbacks,
    )


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def assert_equal_weights(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert actual.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(actual[name], tensor), name


class WeightRecorder(TrainerCallback):
    """Records the model's weights at the start, after every optimizer step and during every evaluation."""

    def __init__(self) -> None:
        self.initial: dict[str, torch.Tensor] = {}
        self.after_step: dict[int, dict[str, torch.Tensor]] = {}
        self.evaluations: list[dict[str, torch.Tensor]] = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.initial = weights(model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.after_step[state.global_step] = weights(model)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self.evaluations.append(weights(model))


@pytest.fixture(scope="module")
def three_steps(digits, tmp_path_factory) -> SimpleNamespace:
    """Three optimizer steps with `decay=0.2` and warm-up: `d` is 2/11 after step 1, then 0.2."""
    output_dir = tmp_path_factory.mktemp("three_steps")
    ema = ModelEMACallback(decay=0.2)
    recorder = WeightRecorder()
    trainer = make_trainer(digits, output_dir, [recorder, ema], max_steps=3, save_strategy="no")
    trainer.train()
    return SimpleNamespace(trainer=trainer, ema=ema, recorder=recorder, output_dir=output_dir)


def test_the_average_follows_its_formula_for_parameters_and_buffers(three_steps):
    recorder = three_steps.recorder
    expected = {name: tensor.double() for name, tensor in recorder.initial.items()}
    for step in (1, 2, 3):
        decay = min(0.2, (1 + step) / (10 + step))
        for name, live in recorder.after_step[step].items():
            if live.is_floating_point():
                expected[name] = decay * expected[name] + (1 - decay) * live.double()
            else:
                expected[name] = live
    average = weights(three_steps.ema.ema_model)
    assert average.keys() == expected.keys()
    assert any("running_mean" in name for name in average) and any("num_batches_tracked" in name for name in average)
    for name, tensor in average.items():
        torch.testing.assert_close(tensor, expected[name].to(tensor.dtype), msg=name)
    # The average differs from the last live weights: the test compares something.
    assert not torch.equal(average["classifier.weight"], recorder.after_step[3]["classifier.weight"])


def test_the_final_model_and_its_saved_weights_are_the_average(three_steps):
    average = weights(three_steps.ema.ema_model)
    assert_equal_weights(weights(three_steps.trainer.model), average)
    three_steps.trainer.save_model(three_steps.output_dir / "final")
    assert_equal_weights(load_file(three_steps.output_dir / "final" / "model.safetensors"), average)
    three_steps.trainer.evaluate()  # after training the swap is a no-op
    assert_equal_weights(weights(three_steps.trainer.model), average)


def test_evaluation_uses_the_average_and_checkpoints_keep_the_live_weights(digits, tmp_path):
    ema = ModelEMACallback(decay=0.5)
    recorder = WeightRecorder()
    trainer = make_trainer(
        digits,
        tmp_path,
        [recorder, ema],
        max_steps=4,
        save_steps=2,
        eval_strategy="steps",
        eval_steps=2,
        load_best_model_at_end=True,
        metric_for_best_model="loss",
    )
    trainer.train()
    assert len(recorder.evaluations) == 2  # steps 2 and 4
    for step, evaluated in zip((2, 4), recorder.evaluations, strict=True):
        # The checkpoint of the step is written after its evaluation: both weights must be back in place.
        checkpoint = tmp_path / f"checkpoint-{step}"
        assert_equal_weights(evaluated, load_file(checkpoint / EMA_WEIGHTS_NAME))
        assert_equal_weights(load_file(checkpoint / "model.safetensors"), recorder.after_step[step])
        assert not torch.equal(evaluated["classifier.weight"], recorder.after_step[step]["classifier.weight"])
    # load_best_model_at_end: the final model is the best checkpoint's average.
    best = Path(trainer.state.best_model_checkpoint)
    assert_equal_weights(weights(trainer.model), load_file(best / EMA_WEIGHTS_NAME))


def test_the_swap_restores_the_live_weights_on_an_exception(digits, tmp_path):
    trainer = make_trainer(digits, tmp_path, [])
    model = trainer.model
    ema = ModelEMACallback()
    ema.on_train_begin(trainer.args, TrainerState(), TrainerControl(), model=model)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    live, average = weights(model), weights(ema.ema_model)
    with pytest.raises(RuntimeError, match="during evaluation"), ema.evaluation_weights(model):
        assert_equal_weights(weights(model), average)
        with ema.evaluation_weights(model):  # nested (Trainer.evaluate of several datasets): nothing more
            assert_equal_weights(weights(model), average)
        raise RuntimeError("during evaluation")
    assert_equal_weights(weights(model), live)
    assert_equal_weights(weights(ema.ema_model), average)


@pytest.fixture(scope="module")
def reference_run(digits, tmp_path_factory) -> SimpleNamespace:
    """The uninterrupted run, with `PRSCallback` before `ModelEMACallback`."""
    output_dir = tmp_path_factory.mktemp("reference")
    ema = ModelEMACallback(decay=0.9)
    trainer = make_trainer(digits, output_dir, [PRSCallback("linear", conv_epochs=2), ema])
    trainer.train()
    return SimpleNamespace(ema=ema, output_dir=output_dir)


def test_resume_is_exact_with_the_average_across_a_layer_switch(digits, reference_run, tmp_path):
    reference = reference_run.output_dir
    final_step = EPOCHS * math.ceil(len(digits.train) / BATCH_SIZE)
    assert final_step == 18
    checkpoint = reference / "checkpoint-8"  # in epoch 1: layer 0 switches at epoch 2, after the checkpoint
    # The callbacks in the other order: the average follows the switch whichever runs first.
    ema = ModelEMACallback(decay=0.9)
    resumed = make_trainer(digits, tmp_path, [ema, PRSCallback("linear", conv_epochs=2)])
    # The average's file carries its layer modes, and loading it restores them.
    fresh = copy.deepcopy(resumed.model)
    assert fresh.layer_modes == ["convolution", "convolution"]
    load_model(fresh, checkpoint / EMA_WEIGHTS_NAME)
    assert fresh.layer_modes == ["convolution", "attention"]
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert ema.ema_model.layer_modes == reference_run.ema.ema_model.layer_modes == ["attention", "attention"]
    assert_equal_weights(weights(ema.ema_model), weights(reference_run.ema.ema_model))
    for name in ("model.safetensors", EMA_WEIGHTS_NAME):  # the last checkpoint: live weights and average
        assert_equal_weights(
            load_file(tmp_path / f"checkpoint-{final_step}" / name),
            load_file(reference / f"checkpoint-{final_step}" / name),
        )


def test_resuming_as_another_model_or_mode_is_refused_naming_what_repeats_the_run(digits, reference_run, tmp_path):
    checkpoint = reference_run.output_dir / "checkpoint-8"
    trainer = make_trainer(digits, tmp_path, [PRSCallback("linear", conv_epochs=2), ModelEMACallback()])
    trainer.model.config.reparameterization_content_gain = 1.0  # e.g. a recipe whose default changed since
    with pytest.raises(ValueError, match=r"its model had reparameterization_content_gain=4.0. Resume it with "
                       r"--config_overrides reparameterization_content_gain=4.0"):  # fmt: skip
        trainer.train(resume_from_checkpoint=str(checkpoint))
    trainer = make_trainer(digits, tmp_path, [ModelEMACallback()], bf16=True, use_cpu=True)
    with pytest.raises(ValueError, match=r"it ran with bf16=False\. Resume it with --bf16 false"):
        trainer.train(resume_from_checkpoint=str(checkpoint))


def test_resuming_a_checkpoint_without_the_average_is_refused(digits, reference_run, tmp_path):
    checkpoint = tmp_path / "checkpoint-8"
    shutil.copytree(reference_run.output_dir / "checkpoint-8", checkpoint)
    (checkpoint / EMA_WEIGHTS_NAME).unlink()
    trainer = make_trainer(digits, tmp_path, [PRSCallback("linear", conv_epochs=2), ModelEMACallback()])
    with pytest.raises(ValueError, match=rf"checkpoint-8: it has no {EMA_WEIGHTS_NAME}"):
        trainer.train(resume_from_checkpoint=str(checkpoint))


@pytest.mark.parametrize("decay", [1.0, 1.5, -0.1, float("nan")])
def test_a_decay_outside_zero_to_one_is_refused(decay):
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        ModelEMACallback(decay=decay)


def test_state_tensors_counts_tied_weights_once():
    tied = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.Linear(2, 2, bias=False))
    tied[1].weight = tied[0].weight
    assert len(tied.state_dict()) == 2 and len(state_tensors(tied)) == 1


@pytest.mark.slow
def test_compiled_training_tracks_eager_and_resumes_with_the_average_across_a_layer_switch(
    digits, reference_run, tmp_path
):
    """`--torch_compile` through the PRS schedule (each switch recompiles), the average and a resume: the compiled run
    ends in the eager run's layer modes with weights that agree to compiled rounding, and resuming it in the middle
    gives the uninterrupted compiled run's weights."""
    compiled_ema = ModelEMACallback(decay=0.9)
    compiled_dir = tmp_path / "compiled"
    make_trainer(digits, compiled_dir, [PRSCallback("linear", conv_epochs=2), compiled_ema], torch_compile=True).train()
    assert compiled_ema.ema_model.layer_modes == reference_run.ema.ema_model.layer_modes == ["attention", "attention"]
    final = "checkpoint-18"
    for name in ("model.safetensors", EMA_WEIGHTS_NAME):
        eager, compiled = load_file(reference_run.output_dir / final / name), load_file(compiled_dir / final / name)
        for key, tensor in eager.items():
            torch.testing.assert_close(compiled[key], tensor, rtol=1e-3, atol=1e-4, msg=f"{name}: {key}")
    resumed_dir = tmp_path / "resumed"
    resumed_ema = ModelEMACallback(decay=0.9)
    resumed = make_trainer(digits, resumed_dir, [PRSCallback("linear", conv_epochs=2), resumed_ema], torch_compile=True)
    resumed.train(resume_from_checkpoint=str(compiled_dir / "checkpoint-8"))
    for name in ("model.safetensors", EMA_WEIGHTS_NAME):
        uninterrupted, again = load_file(compiled_dir / final / name), load_file(resumed_dir / final / name)
        for key, tensor in uninterrupted.items():
            torch.testing.assert_close(again[key], tensor, rtol=1e-6, atol=1e-7, msg=f"{name}: {key}")
