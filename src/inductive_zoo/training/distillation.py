"""Training a student with a frozen teacher classifier (`objectives.distillation`): `DistillationTrainer` adds the
distillation term to the label loss of every training step; evaluation reports the student's plain loss."""

from typing import Any

import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification, PreTrainedModel

from ..data import UNLABELLED
from ..objectives.distillation import DistillationLoss, labelled_cross_entropy
from .checkpointing import ResumableTrainer


def load_teacher(path: str, student: PreTrainedModel, student_processor: Any) -> PreTrainedModel:
    """The teacher checkpoint at `path` (Hub id or directory), frozen and in evaluation mode. It must predict the
    student's classes and take the student's images (same size and normalisation), else `ValueError` names what
    differs."""
    try:
        teacher = AutoModelForImageClassification.from_pretrained(path)
        teacher_processor = AutoImageProcessor.from_pretrained(path)
    except OSError as error:
        raise ValueError(
            f"distillation_teacher {path} is not a classifier checkpoint (a directory or Hub id with config.json, "
            f"weights and preprocessor_config.json): train the teacher first ({error})"
        ) from error
    if teacher.config.num_labels != student.config.num_labels:
        raise ValueError(
            f"distillation_teacher {path} predicts {teacher.config.num_labels} classes, the student "
            f"{student.config.num_labels}: the teacher must be trained on the student's dataset"
        )
    for name in ("size", "image_mean", "image_std"):
        teacher_value, student_value = getattr(teacher_processor, name, None), getattr(student_processor, name, None)
        if teacher_value != student_value:
            raise ValueError(
                f"distillation_teacher {path} takes images with {name} {teacher_value}, the student {student_value}: "
                "the teacher sees the student's pixel values, so both must be prepared alike"
            )
    teacher.requires_grad_(False)
    return teacher.eval()


class DistillationTrainer(ResumableTrainer):
    """A `ResumableTrainer` whose training loss is `distillation(student_logits, teacher_logits, label_loss)`, the
    teacher seeing the same augmented batch in the run's precision. Images labelled `UNLABELLED`
    (`--unlabelled_images`) learn from the teacher alone (`labelled_cross_entropy`). The teacher is not part of the
    model: it is neither saved in checkpoints nor averaged by the EMA, and a resumed run reloads it from its path."""

    def __init__(self, *args: Any, teacher: PreTrainedModel, distillation: DistillationLoss, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teacher = teacher.to(self.args.device)
        self.distillation = distillation

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        labels = inputs.get("labels")
        partly_labelled = model.training and labels is not None and not labels.is_floating_point()
        if partly_labelled and bool((labels == UNLABELLED).any()):
            # The model's own loss would refuse the unlabelled rows: the label loss covers the labelled ones.
            outputs = model(pixel_values=inputs["pixel_values"])
            smoothing = self.args.label_smoothing_factor
            loss = labelled_cross_entropy(outputs.logits, labels, smoothing, ignore_index=UNLABELLED)
        else:
            loss, outputs = super().compute_loss(
                model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
            )
        if model.training:
            with torch.no_grad(), self.accelerator.autocast():
                teacher_logits = self.teacher(pixel_values=inputs["pixel_values"]).logits
            loss = self.distillation(outputs.logits, teacher_logits, loss)
        return (loss, outputs) if return_outputs else loss
