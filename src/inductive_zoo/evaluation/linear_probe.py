"""Linear-probe accuracy: logistic regression on frozen, standardised features."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from .knn import ArrayLike

# scikit-learn is imported where it is used: `import inductive_zoo` reaches this module (through the training
# callbacks), and importing scikit-learn takes seconds.
if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def _numpy(values: ArrayLike) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def _probe(c_value: float, max_iter: int) -> "Pipeline":
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # lbfgs on the multinomial (softmax) loss, the default for more than two classes.
    return make_pipeline(StandardScaler(), LogisticRegression(C=c_value, solver="lbfgs", max_iter=max_iter))


def linear_probe_accuracy(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    c_values: Sequence[float] = (0.01, 0.1, 1.0),
    validation_fraction: float = 0.1,
    max_iter: int = 1000,
    seed: int = 0,
) -> float:
    """Top-1 test accuracy of a multinomial logistic regression trained on frozen features (the linear evaluation
    of self-supervised learning), with scikit-learn's L-BFGS as in CLIP's linear probes (Radford et al. 2021).

    Features are standardised with the training statistics (`StandardScaler`), then `LogisticRegression` (softmax
    loss, L2 penalty of inverse strength `C`, at most `max_iter` L-BFGS iterations) is fitted. With one value in
    `c_values` it is used directly. With several (CLIP sweeps `C` the same way, over a finer range), a class-stratified
    `validation_fraction` of the training rows drawn with `seed` is held out, each `C` is fitted on the rest, and the
    one with the best validation accuracy (the smallest `C`, the strongest regularisation, on a tie) is refitted on
    all training rows. The result is deterministic for fixed inputs and `seed`.
    """
    train_x, train_y = _numpy(train_features), _numpy(train_labels)
    test_x, test_y = _numpy(test_features), _numpy(test_labels)
    if not c_values:
        raise ValueError("c_values must hold at least one value of C")
    candidates = sorted(c_values)
    best_c = candidates[0]
    if len(candidates) > 1:
        from sklearn.model_selection import train_test_split

        _, counts = np.unique(train_y, return_counts=True)
        fit_x, val_x, fit_y, val_y = train_test_split(
            train_x,
            train_y,
            test_size=validation_fraction,
            random_state=seed,
            stratify=train_y if counts.min() >= 2 else None,
        )
        scores = [_probe(c_value, max_iter).fit(fit_x, fit_y).score(val_x, val_y) for c_value in candidates]
        best_c = candidates[int(np.argmax(scores))]
    return float(_probe(best_c, max_iter).fit(train_x, train_y).score(test_x, test_y))
