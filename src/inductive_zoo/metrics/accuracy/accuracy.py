"""Top-1 and top-5 accuracy as an offline `evaluate` metric module (load it by path, no Hub needed)."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """Top-k accuracy of classification logits: the fraction of examples whose reference label is among the
k highest-scoring classes, for k = 1 and k = 5 (k capped at the number of classes)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: logits or scores, one sequence of num_classes floats per example.
    references: integer class ids.
Returns:
    accuracy: top-1 accuracy in [0, 1].
    top5_accuracy: top-5 accuracy in [0, 1] (top-k with k = min(5, num_classes)).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions: list, references: list) -> dict[str, float]:
        scores = np.asarray(predictions, dtype=np.float32)
        labels = np.asarray(references, dtype=np.int64)
        if scores.ndim != 2 or len(scores) != len(labels):
            raise ValueError(f"predictions must be (num_examples, num_classes) logits, got shape {scores.shape}")
        k = min(5, scores.shape[1])
        top_k = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        hits = top_k == labels[:, None]
        return {"accuracy": float(hits[:, 0].mean()), "top5_accuracy": float(hits.any(axis=1).mean())}
