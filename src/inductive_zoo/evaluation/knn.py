"""Weighted k-nearest-neighbour classification on frozen features (Wu et al. 2018; Caron et al. 2021, DINO)."""

import numpy as np
import torch
from torch.nn import functional as F

ArrayLike = torch.Tensor | np.ndarray


def knn_accuracy(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 256,
) -> float:
    """Top-1 accuracy of the temperature-weighted k-NN classifier of Wu et al. (2018), as in DINO's `knn_classifier`.

    Features are L2-normalised, so that their dot product is the cosine similarity `s`. Each test example takes its
    `k` most similar training examples (the memory bank); each neighbour votes for its label with weight
    `exp(s / temperature)`; the prediction is the class with the largest summed weight (the lowest class id on a
    tie). Defaults are DINO's: `k=20`, `temperature=0.07`. `k` is capped at the size of the memory bank.
    `num_classes` defaults to one more than the largest label seen. Test rows are processed `chunk_size` at a time,
    so that memory stays at `chunk_size x len(train_features)` similarities; the computation runs on the device of
    `train_features`.
    """
    train_features = torch.as_tensor(train_features)
    device = train_features.device
    train_labels = torch.as_tensor(train_labels, device=device).long()
    test_features = torch.as_tensor(test_features, device=device)
    test_labels = torch.as_tensor(test_labels, device=device).long()
    if train_features.ndim != 2 or test_features.ndim != 2 or train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            "features must be (N, D) with the same D, "
            f"got {tuple(train_features.shape)} and {tuple(test_features.shape)}"
        )
    if len(train_labels) != len(train_features) or len(test_labels) != len(test_features):
        raise ValueError("there must be one label per feature row")
    if len(train_features) == 0 or len(test_features) == 0:
        raise ValueError("the memory bank and the test set must not be empty")
    if k < 1 or temperature <= 0 or chunk_size < 1:
        raise ValueError(f"k and chunk_size must be >= 1 and temperature > 0, got {k}, {chunk_size}, {temperature}")
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    k = min(k, len(train_features))

    train_features = F.normalize(train_features.float(), dim=1)
    test_features = F.normalize(test_features.float(), dim=1)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(test_features), chunk_size):
            similarity = test_features[start : start + chunk_size] @ train_features.T
            top_similarity, top_indices = similarity.topk(k, dim=1)
            votes = torch.zeros(len(top_indices), num_classes, device=device)
            votes.scatter_add_(1, train_labels[top_indices], (top_similarity / temperature).exp())
            correct += int((votes.argmax(dim=1) == test_labels[start : start + chunk_size]).sum())
    return correct / len(test_features)
