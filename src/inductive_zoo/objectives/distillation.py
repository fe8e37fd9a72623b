"""Knowledge distillation from a frozen teacher classifier: the student learns from the labels and from the teacher's
predictions on the same augmented images.

- `"soft"` (Hinton et al. 2015, "Distilling the knowledge in a neural network"): the KL divergence between the
  teacher's and the student's class distributions at temperature `T`, scaled by `T^2` so that its gradients keep
  their size as `T` changes.
- `"hard"` (Touvron et al. 2021, "Training data-efficient image transformers & distillation through attention",
  DeiT, eq. 3 without the distillation token): cross-entropy against the teacher's arg-max class.

`loss = (1 - alpha) * label_loss + alpha * distillation_term` (DeiT's eq. 2 and 3). With unlabelled images in the
batch (semi-supervised distillation: the teacher's predictions are their only target), the label loss is the mean
over the labelled images alone (`labelled_cross_entropy`) and the distillation term covers every image.

A convnet teacher hands its inductive bias to a transformer student through its predictions (DeiT, section 5.2),
which is why the zoo offers it.
"""

from dataclasses import dataclass

import torch
from torch.nn import functional

DISTILLATION_KINDS = ("soft", "hard")


@dataclass(frozen=True)
class DistillationLoss:
    """Combines a batch's label loss with the distillation term of `kind` (see the module's docstring).

    Args:
        kind: `"soft"` (temperature-scaled KL divergence) or `"hard"` (cross-entropy on the teacher's arg-max).
        alpha: weight of the distillation term, in [0, 1]; the label loss gets `1 - alpha`.
        temperature: `T` of the soft term (unused by `"hard"`); positive.
    """

    kind: str = "hard"
    alpha: float = 0.5
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in DISTILLATION_KINDS:
            raise ValueError(f"distillation_kind must be one of {DISTILLATION_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"distillation_alpha must be in [0, 1], got {self.alpha!r}")
        if not self.temperature > 0.0:
            raise ValueError(f"distillation_temperature must be positive, got {self.temperature!r}")

    def distillation_term(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The batch mean of the distillation term alone (fp32)."""
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                f"the teacher's logits {tuple(teacher_logits.shape)} must have the student's shape "
                f"{tuple(student_logits.shape)}: the teacher must be trained on the same classes"
            )
        student_logits, teacher_logits = student_logits.float(), teacher_logits.float()
        if self.kind == "hard":
            return functional.cross_entropy(student_logits, teacher_logits.argmax(dim=-1))
        temperature = self.temperature
        student = functional.log_softmax(student_logits / temperature, dim=-1)
        teacher = functional.log_softmax(teacher_logits / temperature, dim=-1)
        return functional.kl_div(student, teacher, reduction="batchmean", log_target=True) * temperature**2

    def __call__(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, label_loss: torch.Tensor
    ) -> torch.Tensor:
        """`(1 - alpha) * label_loss + alpha * distillation_term(student_logits, teacher_logits)`."""
        return (1.0 - self.alpha) * label_loss + self.alpha * self.distillation_term(student_logits, teacher_logits)


def labelled_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0, ignore_index: int = -100
) -> torch.Tensor:
    """The cross-entropy (with `label_smoothing`) averaged over the rows whose label is not `ignore_index`, in fp32;
    zero, still part of the graph, when every row is unlabelled (the plain mean would be NaN)."""
    labelled = labels != ignore_index
    total = functional.cross_entropy(
        logits.float(), labels, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="sum"
    )
    return total / labelled.sum().clamp(min=1)
