"""Offline `evaluate` metric modules shipped with the package, loaded by path."""

from pathlib import Path

import evaluate

METRICS_DIR = Path(__file__).parent


def load_accuracy_metric() -> evaluate.EvaluationModule:
    """The package's top-1/top-5 accuracy metric, loaded through `evaluate.load` from its file (no Hub access)."""
    return evaluate.load(str(METRICS_DIR / "accuracy" / "accuracy.py"))
