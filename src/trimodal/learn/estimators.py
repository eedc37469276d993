"""scikit-learn pieces the registered classifiers are built from (trimodal.learn.classifiers).

Probabilities: SVMs have none of their own (``SVC(probability=True)`` is deprecated in
scikit-learn 1.9), so by default (``proba="softmax"``) the SVM models return the softmax of their
``decision_function`` — monotone in the SVM scores, uncalibrated, and robust with tiny classes.
``proba="calibrated"`` wraps them in ``CalibratedClassifierCV(method="sigmoid", cv=3,
ensemble=False)`` instead (needs >= 3 rows per class in every training fold).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.neural_network import MLPClassifier
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted


class DelegatingClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Base of the wrappers that fit a clone of ``estimator`` (``estimator_``) and answer with
    it: its fitted width, its sparse-input tag and its predictions."""

    @property
    def n_features_in_(self):
        return self.estimator_.n_features_in_  # AttributeError before fit, as sklearn's Pipeline

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse
        return tags

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)


class DecisionSoftmax(DelegatingClassifier):
    """Give a margin classifier (SVM) a ``predict_proba``: softmax of its decision function.

    Uncalibrated but monotone in the scores; a late-fusion meta-classifier recalibrates anyway.
    """

    def __init__(self, estimator: BaseEstimator):
        self.estimator = estimator

    def fit(self, X, y, **fit_params):
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.classes_ = self.estimator_.classes_
        return self

    def decision_function(self, X):
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    def predict_proba(self, X):
        return decision_proba(self.decision_function(X))


def decision_proba(d) -> np.ndarray:
    """Probabilities from decision values: the logistic of one binary margin, else a softmax."""
    d = np.asarray(d, dtype=float)
    if d.ndim == 1:  # binary: one margin for the positive class
        p = expit(d)
        return np.column_stack([1.0 - p, p])
    return softmax(d, axis=1)


def svm_proba(est, proba: str):
    """An SVM with probabilities: the softmax of its margins, or sigmoid calibration."""
    if proba == "softmax":
        return DecisionSoftmax(est)
    if proba == "calibrated":
        return CalibratedClassifierCV(est, method="sigmoid", cv=3, ensemble=False)
    raise ValueError(f"proba must be 'softmax' or 'calibrated', got {proba!r}")


def unit_rows(X):
    """Standardised columns divided by sqrt(d): rows of mean squared norm 1.

    The scale at which liblinear's C=1 is a moderate penalty whatever the dimension (as for
    TF-IDF rows, and as early fusion weights each block). Standardised 1,280-d rows have a
    squared norm of ~1,280, which makes C=1 a near hard margin: slow for the dual solver, worst
    with the duplicated rows of rebalancing (issue 13 saw 24-68 s per fold and
    ConvergenceWarnings). bench/bench_classify.py: 500 x 1,280, 4-47x faster per fold, no
    warnings, balanced accuracy 1-5 points higher.
    """
    X = np.asarray(X, dtype=float)
    return X / np.sqrt(max(X.shape[1], 1))


def to_dense(X):
    return X.toarray() if hasattr(X, "toarray") else np.asarray(X)


class SmallClassMLP(MLPClassifier):
    """MLPClassifier whose early stopping never fails on tiny classes.

    scikit-learn's early stopping holds out ``validation_fraction`` of the training rows
    (stratified) and raises when that split is too small for the classes (2 videos per class).
    Then this one fits without early stopping (``max_iter`` epochs) and says so in
    ``early_stopping_``; its parameters are left as given.
    """

    def fit(self, X, y):
        from sklearn.utils.validation import check_X_y

        y_arr = check_X_y(X, y, accept_sparse=True, multi_output=True)[1]
        counts = np.unique(y_arr, return_counts=True)[1]
        n, k = len(y_arr), len(counts)
        n_val = int(np.ceil(n * self.validation_fraction))
        if self.early_stopping and not (counts.min() >= 2 and max(2, k) <= n_val <= n - k):
            self.early_stopping = False
            try:
                super().fit(X, y)
            finally:
                self.early_stopping = True
            self.early_stopping_ = f"off (smallest class has {counts.min()} row(s) of {n})"
            return self
        self.early_stopping_ = "on" if self.early_stopping else "off"
        return super().fit(X, y)
