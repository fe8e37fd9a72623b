"""DINO's pieces (Caron et al. 2021): the projection head, the centred and sharpened cross-view loss, and the
teacher's momentum schedule."""

import math

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F


class DINOHead(nn.Module):
    """Three-layer MLP to a bottleneck, L2 normalisation, then a weight-normalised linear layer to K prototypes whose
    norms are fixed to 1 (DINO's `norm_last_layer=True`), computed as `normalize(x) @ normalize(V).T`."""

    def __init__(
        self, in_features: int, out_features: int = 4096, hidden_features: int = 2048, bottleneck_features: int = 256
    ) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden_features),
            nn.GELU(),
            nn.Linear(hidden_features, hidden_features),
            nn.GELU(),
            nn.Linear(hidden_features, bottleneck_features),
        )
        self.prototypes = nn.Parameter(nn.init.trunc_normal_(torch.empty(out_features, bottleneck_features), std=0.02))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(features), dim=-1) @ F.normalize(self.prototypes, dim=-1).T


def teacher_temperature(epoch: float, warmup_epochs: int, start: float = 0.04, end: float = 0.07) -> float:
    """Linear warm-up of the teacher temperature from `start` to `end` over `warmup_epochs`, then constant."""
    if warmup_epochs <= 0 or epoch >= warmup_epochs:
        return end
    return start + (end - start) * epoch / warmup_epochs


def teacher_momentum(step: int, total_steps: int, base: float = 0.996) -> float:
    """Cosine schedule of the EMA momentum from `base` at step 0 to 1 at the last step (DINO, sec. 3.1)."""
    if total_steps <= 1:
        return base
    return 1.0 - (1.0 - base) * (math.cos(math.pi * min(step, total_steps) / total_steps) + 1) / 2


class DINOLoss(nn.Module):
    """`sum over pairs (t, s), t != s of H(P_t, P_s)`, averaged: the student's softmax at temperature
    `student_temperature` over each view must match the teacher's centred and sharpened softmax over each *global*
    view (DINO, eq. 1-3). `center` is a persistent buffer (saved with the model, so a resumed run continues it),
    updated by EMA with `center_momentum` from the teacher outputs of the whole (global) batch at every training
    forward (under gradient accumulation: every micro-batch), never in evaluation.
    """

    def __init__(self, out_features: int, student_temperature: float = 0.1, center_momentum: float = 0.9) -> None:
        super().__init__()
        self.student_temperature = student_temperature
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, out_features))

    def forward(
        self, student_outputs: list[torch.Tensor], teacher_outputs: list[torch.Tensor], teacher_temp: float
    ) -> torch.Tensor:
        teacher_probabilities = [
            F.softmax((output - self.center) / teacher_temp, dim=-1).detach() for output in teacher_outputs
        ]
        student_log_probabilities = [
            F.log_softmax(output / self.student_temperature, dim=-1) for output in student_outputs
        ]
        total, pairs = 0.0, 0
        for teacher_index, probabilities in enumerate(teacher_probabilities):
            for student_index, log_probabilities in enumerate(student_log_probabilities):
                if student_index == teacher_index:
                    continue  # the same global view
                total = total + torch.sum(-probabilities * log_probabilities, dim=-1).mean()
                pairs += 1
        if self.training:
            self.update_center(torch.cat(teacher_outputs))
        return total / pairs

    @torch.no_grad()
    def update_center(self, teacher_output: torch.Tensor) -> None:
        batch_center = teacher_output.sum(dim=0, keepdim=True)
        count = torch.tensor([teacher_output.shape[0]], device=teacher_output.device, dtype=teacher_output.dtype)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(batch_center)
            dist.all_reduce(count)
        self.center.mul_(self.center_momentum).add_(batch_center / count, alpha=1 - self.center_momentum)
