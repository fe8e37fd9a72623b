"""Evaluation of frozen representations (k-NN and linear-probe accuracy on features extracted from a backbone) and
of masked-image-modeling models (held-out reconstruction loss on fixed masks)."""

from .features import extract_features, feature_backbone
from .knn import knn_accuracy
from .linear_probe import linear_probe_accuracy
from .reconstruction import held_out_reconstruction_loss

__all__ = [
    "extract_features",
    "feature_backbone",
    "held_out_reconstruction_loss",
    "knn_accuracy",
    "linear_probe_accuracy",
]
