"""SimCLR's NT-Xent (single- and multi-process) and DINO's head, loss, centring and schedules."""

import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn import functional as F

from inductive_zoo.objectives.contrastive import ProjectionHead, nt_xent_loss
from inductive_zoo.objectives.self_distillation import DINOHead, DINOLoss, teacher_momentum, teacher_temperature


def reference_nt_xent(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    embeddings = F.normalize(torch.cat([first, second]), dim=1)
    count = embeddings.shape[0]
    batch = first.shape[0]
    losses = []
    for anchor in range(count):
        partner = (anchor + batch) % count
        others = [other for other in range(count) if other != anchor]
        logits = torch.stack([embeddings[anchor] @ embeddings[other] / temperature for other in others])
        losses.append(-torch.log_softmax(logits, dim=0)[others.index(partner)])
    return torch.stack(losses).mean()


def test_nt_xent_matches_a_plain_reference_and_rewards_agreement():
    generator = torch.Generator().manual_seed(0)
    first, second = torch.randn(6, 8, generator=generator), torch.randn(6, 8, generator=generator)
    torch.testing.assert_close(nt_xent_loss(first, second, 0.5), reference_nt_xent(first, second, 0.5))
    assert nt_xent_loss(first, first + 0.01 * second, 0.2) < nt_xent_loss(first, second, 0.2)
    with pytest.raises(ValueError, match="two views of shape"):
        nt_xent_loss(first, second[:3])


def _two_process_loss(rank: int, init_file: str, first: torch.Tensor, second: torch.Tensor, results) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    half = first.shape[0] // 2
    part = slice(rank * half, (rank + 1) * half)
    mine_first = first[part].clone().requires_grad_()
    loss = nt_xent_loss(mine_first, second[part], 0.3)
    loss.backward()
    results[rank] = (loss.detach(), mine_first.grad)
    dist.destroy_process_group()


def test_nt_xent_across_two_processes_equals_one_process_on_the_global_batch(tmp_path):
    generator = torch.Generator().manual_seed(1)
    first, second = torch.randn(8, 5, generator=generator), torch.randn(8, 5, generator=generator)
    results = mp.Manager().dict()
    mp.spawn(_two_process_loss, args=(str(tmp_path / "init"), first, second, results), nprocs=2, join=True)
    mean_loss = (results[0][0] + results[1][0]) / 2
    whole_first = first.clone().requires_grad_()
    expected = nt_xent_loss(whole_first, second, 0.3)
    expected.backward()
    torch.testing.assert_close(mean_loss, expected.detach())
    # Gradients: each process holds its own rows' gradient of its local mean; scaled, they add up to the global one.
    gathered = torch.cat([results[0][1], results[1][1]]) / 2
    torch.testing.assert_close(gathered, whole_first.grad, atol=1e-6, rtol=1e-4)


def test_projection_and_dino_heads():
    assert ProjectionHead(16, 32, 8)(torch.randn(4, 16)).shape == (4, 8)
    head = DINOHead(16, out_features=64, hidden_features=32, bottleneck_features=8)
    logits = head(torch.randn(4, 16))
    assert logits.shape == (4, 64) and logits.abs().max() <= 1 + 1e-5  # cosine similarities


def test_dino_loss_centres_sharpens_and_skips_same_view_pairs():
    loss = DINOLoss(out_features=5, student_temperature=0.1, center_momentum=0.9).train()
    teacher = [torch.randn(4, 5), torch.randn(4, 5)]
    student = [teacher[1].clone(), teacher[0].clone(), torch.randn(4, 5)]
    value = loss(student, teacher, teacher_temp=0.04)
    manual = 0.0
    center = torch.zeros(1, 5)
    for t, teacher_output in enumerate(teacher):
        probabilities = F.softmax((teacher_output - center) / 0.04, dim=-1)
        for s, student_output in enumerate(student):
            if s != t:
                manual += torch.sum(-probabilities * F.log_softmax(student_output / 0.1, dim=-1), dim=-1).mean()
    torch.testing.assert_close(value, manual / 4)
    torch.testing.assert_close(loss.center, 0.1 * torch.cat(teacher).mean(dim=0, keepdim=True))
    loss.eval()
    loss(student, teacher, teacher_temp=0.04)
    torch.testing.assert_close(loss.center, 0.1 * torch.cat(teacher).mean(dim=0, keepdim=True))  # not in eval


def test_teacher_schedules():
    assert teacher_temperature(0, 10) == 0.04 and teacher_temperature(5, 10) == pytest.approx(0.055)
    assert teacher_temperature(10, 10) == 0.07 == teacher_temperature(3, 0)
    assert teacher_momentum(0, 100) == pytest.approx(0.996) and teacher_momentum(100, 100) == pytest.approx(1.0)
    assert teacher_momentum(50, 100) == pytest.approx(1 - 0.004 * (math.cos(math.pi / 2) + 1) / 2)
