"""Rebalancing that stays inside CV.

The original study balanced the corpus by duplicating minority-class rows up to N/k and dropping
majority-class rows down to N/k *before* splitting, so copies of one video landed in both train
and test and inflated the scores. Here rebalancing is a resampler of *training* rows only:
:func:`rebalance_indices` on a training fold's labels, or :class:`RebalancedClassifier` wrapped
around a pipeline so every ``fit`` inside cross-validation rebalances its own training fold.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from trimodal.learn.estimators import DelegatingClassifier


def rebalance_indices(y, target: str | int = "n_over_k", seed: int | None = 0) -> np.ndarray:
    """Row indices (into ``y``) of a rebalanced sample: every class gets ``target`` rows.

    ``target="n_over_k"`` is the original study's rule (N rows, k classes: each class N // k
    rows); ``"max"`` oversamples to the largest class; an int sets the per-class count. A class
    with more rows is subsampled without replacement; a class with fewer keeps every row and
    repeats them as evenly as possible (whole copies, then a random remainder). The result is
    shuffled. Call it on a training fold's labels only.
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError("y must be a non-empty 1-D array of labels")
    rng = np.random.default_rng(seed)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    if target == "n_over_k":
        per_class = max(1, len(y) // len(classes))
    elif target == "max":
        per_class = int(counts.max())
    elif isinstance(target, (int, np.integer)) and target > 0:
        per_class = int(target)
    else:
        raise ValueError(f"unknown rebalancing target {target!r}")
    out = []
    for c in range(len(classes)):
        rows = np.flatnonzero(inverse == c)
        if len(rows) >= per_class:
            out.append(rng.choice(rows, per_class, replace=False))
        else:
            whole, rest = divmod(per_class, len(rows))
            out.append(np.tile(rows, whole))
            out.append(rng.choice(rows, rest, replace=False))
    idx = np.concatenate(out)
    rng.shuffle(idx)
    return idx


def _estimator_has(attr: str):
    def check(self):
        return hasattr(getattr(self, "estimator_", self.estimator), attr)

    return check


def take_rows(values, idx):
    """Rows `idx` (integer positions) of what a fit takes per sample: a pandas object by
    position, a numpy array or scipy sparse matrix by index, a list (texts) item by item."""
    if hasattr(values, "iloc"):
        return values.iloc[idx]
    if hasattr(values, "shape"):
        return values[idx]
    return [values[i] for i in idx]


class RebalancedClassifier(DelegatingClassifier):
    """Fit a clone of ``estimator`` on a rebalanced resample of the rows it is given.

    Wrapped around a whole pipeline (vectoriser, scaler, classifier) it rebalances inside every
    cross-validation fold: test rows are never resampled and never copied into training.
    Prediction delegates to the fitted clone unchanged.
    """

    def __init__(self, estimator, seed: int | None = 0, target: str | int = "n_over_k"):
        self.estimator = estimator
        self.seed = seed
        self.target = target

    def fit(self, X, y, **fit_params):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        # rows of text or vectors: the wrapped pipeline checks their content, this only their shape
        X = check_array(
            X, accept_sparse="csr", dtype=None, ensure_2d=False, ensure_all_finite=False
        )
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        idx = rebalance_indices(y, target=self.target, seed=self.seed)
        n = len(y)
        params = {
            k: (take_rows(v, idx) if hasattr(v, "__len__") and len(v) == n else v)
            for k, v in fit_params.items()
        }
        self.estimator_ = clone(self.estimator).fit(take_rows(X, idx), y[idx], **params)
        self.classes_ = self.estimator_.classes_
        self.resampled_indices_ = idx
        return self

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self)
        return self.estimator_.decision_function(X)
