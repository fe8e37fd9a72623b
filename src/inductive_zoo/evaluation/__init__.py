"""Evaluation of frozen representations: k-NN and linear-probe accuracy on features extracted from a backbone."""

from .features import extract_features, feature_backbone
from .knn import knn_accuracy
from .linear_probe import linear_probe_accuracy

__all__ = ["extract_features", "feature_backbone", "knn_accuracy", "linear_probe_accuracy"]
