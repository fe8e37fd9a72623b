"""SimCLR's NT-Xent loss (Chen et al. 2020, eq. 1), correct across processes, and its projection head."""

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F


def gather_with_gradient(embeddings: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All processes' embeddings concatenated (gradients flow back to each process's own part), and the offset of
    this process's rows; the input itself in a single process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return embeddings, 0
    gathered = torch.distributed.nn.functional.all_gather(embeddings)
    return torch.cat(gathered), dist.get_rank() * embeddings.shape[0]


def nt_xent_loss(first: torch.Tensor, second: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Normalised-temperature cross-entropy over two views `(B, D)` of the same B images.

    Each of the 2B embeddings must pick its partner view among all 2B' - 1 others, B' being the global batch: in a
    multi-process run every process's embeddings serve as negatives for every other (gathered with gradient), so the
    loss equals the single-process loss on the global batch. Mean over this process's 2B anchors.
    """
    if first.shape != second.shape or first.ndim != 2:
        raise ValueError(
            f"two views of shape (batch, dim) expected, got {tuple(first.shape)} and {tuple(second.shape)}"
        )
    local = F.normalize(torch.cat([first, second]), dim=1)
    batch_size = first.shape[0]
    all_first, offset = gather_with_gradient(F.normalize(first, dim=1))
    all_second, _ = gather_with_gradient(F.normalize(second, dim=1))
    candidates = torch.cat([all_first, all_second])
    global_batch = all_first.shape[0]
    logits = local @ candidates.T / temperature
    rows = torch.arange(2 * batch_size, device=first.device)
    own = torch.cat([rows[:batch_size] + offset, rows[:batch_size] + offset + global_batch])
    partner = torch.cat([rows[:batch_size] + offset + global_batch, rows[:batch_size] + offset])
    logits[rows, own] = float("-inf")  # an embedding is never its own negative
    return F.cross_entropy(logits, partner)


class ProjectionHead(nn.Module):
    """SimCLR's projection `g`: Linear -> BatchNorm -> ReLU -> Linear (Chen et al. 2020, sec. 2.1)."""

    def __init__(self, in_features: int, hidden_features: int = 512, out_features: int = 128) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.norm = nn.BatchNorm1d(hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.norm(self.fc1(features))))
