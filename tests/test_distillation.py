"""Knowledge distillation from a frozen teacher (`objectives.distillation`, `training.distillation`): the loss, the
teacher's checks, a student that learns the teacher's predictions, and an exact resume."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Value
from safetensors.torch import load_file
from torch.nn import functional
from transformers import AutoModelForImageClassification

from inductive_zoo.data import UNLABELLED, with_unlabelled_images
from inductive_zoo.objectives.distillation import DistillationLoss, labelled_cross_entropy
from inductive_zoo.training.distillation import DistillationTrainer
from inductive_zoo.training.image_classification import build_trainer, parse_args, run

COMMON = [
    "--max_eval_samples", "60", "--per_device_train_batch_size", "16", "--report_to", "none", "--seed", "0",
    "--logging_steps", "1", "--dataloader_pin_memory", "false",
]  # fmt: skip
TEACHER = [
    "--model_type", "fast_convnet", "--config_overrides", "block_widths=[16,32,32],logit_scale=1",
    "--train_fraction", "0.3", "--num_train_epochs", "5", "--learning_rate", "1e-2", "--save_strategy", "no",
    "--do_train",
]  # fmt: skip
STUDENT = [
    "--model_type", "fast_convnet", "--config_overrides", "block_widths=[8,16,16],logit_scale=1",
    "--train_fraction", "0.1", "--learning_rate", "1e-2", "--crop_padding", "2", "--colour_jitter", "0",
]  # fmt: skip


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> str:
    """A small FastConvNet trained on 30 % of digits (about 70 % top-1 on held-out digits)."""
    output_dir = tmp_path_factory.mktemp("teacher")
    run(*parse_args([*TEACHER, *COMMON, "--output_dir", str(output_dir)]))
    return str(output_dir)


# --- the loss --------------------------------------------------------------------------------------------------


def test_the_soft_term_is_hintons_scaled_kl_and_vanishes_when_the_student_matches():
    student, teacher = torch.randn(8, 5), torch.randn(8, 5)
    loss = DistillationLoss("soft", alpha=1.0, temperature=3.0)
    teacher_log_p, student_log_p = functional.log_softmax(teacher / 3, -1), functional.log_softmax(student / 3, -1)
    expected = (teacher_log_p.exp() * (teacher_log_p - student_log_p)).sum(-1).mean() * 9
    torch.testing.assert_close(loss(student, teacher, torch.tensor(7.0)), expected)
    torch.testing.assert_close(loss.distillation_term(teacher, teacher), torch.tensor(0.0), atol=1e-6, rtol=0)


def test_the_hard_term_is_cross_entropy_on_the_teachers_classes_mixed_by_alpha():
    student, teacher = torch.randn(8, 5), torch.randn(8, 5)
    label_loss = torch.tensor(2.0)
    hard = functional.cross_entropy(student, teacher.argmax(-1))
    mixed = DistillationLoss("hard", alpha=0.25)(student, teacher, label_loss)
    torch.testing.assert_close(mixed, 0.75 * 2 + 0.25 * hard)
    torch.testing.assert_close(DistillationLoss("hard", alpha=0.0)(student, teacher, label_loss), label_loss)


def test_a_teacher_of_other_classes_is_refused_by_the_loss():
    with pytest.raises(ValueError, match="the teacher must be trained on the same classes"):
        DistillationLoss().distillation_term(torch.zeros(2, 5), torch.zeros(2, 3))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--distillation_kind", "feature", r"distillation_kind must be one of \('soft', 'hard'\), got 'feature'"),
        ("--distillation_alpha", "1.5", r"distillation_alpha must be in \[0, 1\], got 1.5"),
        ("--distillation_temperature", "0", "distillation_temperature must be positive, got 0"),
    ],
)
def test_bad_distillation_options_are_refused_by_name_before_anything_loads(tmp_path, option, value, message):
    with pytest.raises(ValueError, match=message):
        parse_args(["--output_dir", str(tmp_path), "--distillation_teacher", "missing", option, value])


# --- the teacher -----------------------------------------------------------------------------------------------


def test_a_teacher_of_other_classes_or_images_is_refused_by_name(teacher, tmp_path):
    model = AutoModelForImageClassification.from_pretrained(teacher, num_labels=4, ignore_mismatched_sizes=True)
    model.save_pretrained(tmp_path / "four")
    shutil.copy(f"{teacher}/preprocessor_config.json", tmp_path / "four")
    argv = [*STUDENT, *COMMON, "--output_dir", str(tmp_path / "student"), "--max_steps", "1", "--do_train"]
    with pytest.raises(ValueError, match="predicts 4 classes, the student 10"):
        build_trainer(*parse_args([*argv, "--distillation_teacher", str(tmp_path / "four")]))
    with pytest.raises(ValueError, match=r"is not a classifier checkpoint .*: train the teacher first"):
        build_trainer(*parse_args([*argv, "--distillation_teacher", str(tmp_path / "missing")]))
    with pytest.raises(ValueError, match="takes images with size"):
        build_trainer(*parse_args([*argv, "--image_size", "24", "--distillation_teacher", teacher]))


def test_a_distilled_student_learns_the_teachers_predictions(teacher, tmp_path):
    """With alpha 1 the student sees the teacher only (no label): its predictions on held-out digits come to agree
    with the teacher's far more often than an untrained student's do."""
    argv = [
        *STUDENT, *COMMON, "--output_dir", str(tmp_path), "--num_train_epochs", "4", "--train_fraction", "0.3",
        "--save_strategy", "no",
        "--do_train", "--distillation_teacher", teacher, "--distillation_kind", "soft", "--distillation_alpha", "1",
    ]  # fmt: skip
    trainer = build_trainer(*parse_args(argv))
    assert isinstance(trainer, DistillationTrainer)
    pixel_values = trainer.data_collator(trainer.final_eval_dataset.__getitems__(list(range(60))))["pixel_values"]
    teacher_classes = trainer.teacher(pixel_values=pixel_values).logits.argmax(-1)

    def agreement() -> float:
        trainer.model.eval()
        with torch.no_grad():
            return (trainer.model(pixel_values=pixel_values).logits.argmax(-1) == teacher_classes).float().mean().item()

    before = agreement()
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
    assert agreement() > max(0.5, before + 0.25)
    assert all(not parameter.requires_grad for parameter in trainer.teacher.parameters())


@pytest.mark.parametrize("unlabelled", [0, 50], ids=["labelled", "with-unlabelled-images"])
def test_a_distilled_run_resumes_exactly_and_records_its_teacher(teacher, tmp_path, unlabelled):
    argv = [
        *STUDENT, *COMMON, "--num_train_epochs", "2", "--save_strategy", "steps", "--save_steps", "3", "--do_train",
        "--model_ema_decay", "0.9", "--distillation_teacher", teacher, "--distillation_kind", "hard",
        *(["--unlabelled_images", str(unlabelled)] if unlabelled else []),
    ]  # fmt: skip
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    run(*parse_args([*argv, "--output_dir", str(reference)]))
    run(*parse_args([*argv, "--output_dir", str(resumed), "--resume_from_checkpoint", str(reference / "checkpoint-3")]))
    weights, again = load_file(reference / "model.safetensors"), load_file(resumed / "model.safetensors")
    for name, tensor in weights.items():
        torch.testing.assert_close(again[name], tensor, atol=0, rtol=0, msg=name)
    summary = json.loads((reference / "training_summary.json").read_text())
    teacher_time = json.loads(Path(teacher, "training_summary.json").read_text())["training_time_s"]
    assert summary["distillation"] == {
        "teacher": teacher, "kind": "hard", "alpha": 0.5, "temperature": 1.0,
        "teacher_model_type": "fast_convnet", "teacher_training_time_s": teacher_time, "unlabelled_images": unlabelled,
    }  # fmt: skip
    assert summary["num_train_examples"] == 143  # the labelled 10 % of digits' 1,438 training images
    assert not any(name.startswith("teacher") for name in weights)


# --- semi-supervised distillation: unlabelled images learn from the teacher alone ---------------------------------


def test_the_label_loss_covers_the_labelled_rows_only_and_is_zero_without_any():
    logits = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([2, UNLABELLED, 0, UNLABELLED, 3, 1])
    labelled = labels != UNLABELLED
    expected = functional.cross_entropy(logits[labelled], labels[labelled], label_smoothing=0.1)
    torch.testing.assert_close(labelled_cross_entropy(logits, labels, 0.1), expected)
    nothing = labelled_cross_entropy(logits, torch.full((6,), UNLABELLED))
    assert nothing.item() == 0.0
    nothing.backward()
    assert logits.grad is not None and not logits.grad.any()


def test_unlabelled_images_come_from_outside_the_subset_and_validation_split_without_their_labels():
    features = Features({"index": Value("int64"), "label": ClassLabel(names=["a", "b"])})
    dataset = Dataset.from_dict({"index": list(range(20)), "label": [i % 2 for i in range(20)]}, features=features)
    labelled, validation = [0, 1, 2, 3], [4, 5, 6]
    combined, count = with_unlabelled_images(dataset, labelled, validation, 8, "label")
    assert count == 8 and len(combined) == 12
    assert combined["index"][:4] == labelled and combined["label"][:4] == [0, 1, 0, 1]
    unlabelled_rows = combined["index"][4:]
    assert len(set(unlabelled_rows)) == 8 and not set(unlabelled_rows) & {*labelled, *validation}
    assert combined["label"][4:] == [UNLABELLED] * 8
    assert with_unlabelled_images(dataset, labelled, validation, None, "label")[1] == 13
    with pytest.raises(ValueError, match="unlabelled_images must be between 1 and the 13 training images"):
        with_unlabelled_images(dataset, labelled, validation, 14, "label")


def test_a_partly_labelled_batch_mixes_the_labelled_loss_with_the_teachers_term_on_every_image(teacher, tmp_path):
    argv = [
        *STUDENT, *COMMON, "--output_dir", str(tmp_path), "--max_steps", "1", "--do_train", "--no_augmentation",
        "--label_smoothing_factor", "0.1", "--distillation_teacher", teacher, "--distillation_kind", "soft",
        "--distillation_alpha", "0.3", "--distillation_temperature", "2", "--unlabelled_images", "all",
        "--precision", "fp32",  # the teacher runs under the run's autocast: fp32 compares exactly
    ]  # fmt: skip
    trainer = build_trainer(*parse_args(argv))
    dataset = trainer.train_dataset
    assert len(dataset) == 1438  # the labelled 143 first, then every other training image
    batch = trainer.data_collator(dataset.__getitems__([0, 1, 2, 1437, 1436]))
    assert batch["labels"].tolist()[3:] == [UNLABELLED, UNLABELLED]
    trainer.model.train()  # batch statistics both times: the same logits
    loss = trainer.compute_loss(trainer.model, dict(batch))
    with torch.no_grad():
        student = trainer.model(pixel_values=batch["pixel_values"]).logits
        teacher_logits = trainer.teacher(pixel_values=batch["pixel_values"]).logits
    label_loss = functional.cross_entropy(student[:3], batch["labels"][:3], label_smoothing=0.1)
    expected = DistillationLoss("soft", 0.3, 2.0)(student, teacher_logits, label_loss)
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-4, atol=1e-5)


def test_unlabelled_images_are_refused_without_a_teacher_with_mixup_or_a_bad_count(teacher, tmp_path):
    argv = [*STUDENT, *COMMON, "--output_dir", str(tmp_path), "--max_steps", "1", "--do_train"]
    with pytest.raises(ValueError, match="unlabelled_images needs --distillation_teacher"):
        build_trainer(*parse_args([*argv, "--unlabelled_images", "all"]))
    mixed = [*argv, "--unlabelled_images", "all", "--distillation_teacher", teacher, "--mixup_alpha", "0.8"]
    with pytest.raises(ValueError, match="unlabelled_images cannot be used with mixup/CutMix"):
        build_trainer(*parse_args(mixed))
    with pytest.raises(ValueError, match="unlabelled_images must be a number of images, 'all' or 'none', got 'many'"):
        parse_args([*argv, "--unlabelled_images", "many"])
    with pytest.raises(ValueError, match=r"unlabelled_images must be positive \(or 'all'\), got 0"):
        parse_args([*argv, "--unlabelled_images", "0"])
