"""The estimator a classifier entry names: the registered model
(:data:`trimodal.learn.classifiers.CLASSIFIERS`) with its scaler or text vectorizer in front and,
on request, the resampling wrapper around it. Used by cross-validation, fusion and the spec's
fit-free checks alike, so all three build the same pipeline.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

from trimodal.learn.classifiers import CLASSIFIERS
from trimodal.learn.estimators import to_dense, unit_rows
from trimodal.learn.text import make_text_vectorizer


def make_classifier(
    name: str,
    *,
    seed: int = 0,
    text: str | None = None,
    scale: bool = True,
    class_weight: str | None = "balanced",
    proba: str = "softmax",
    rebalance: bool = False,
    **params: Any,
) -> BaseEstimator:
    """The registered classifier `name` (:data:`~trimodal.learn.classifiers.CLASSIFIERS`), with its
    scaler or text vectorizer in front.

    text: None for numeric matrices, or "tfidf" / "count" when X is a 1-D array of strings (the
    vectorizer is then the first step; no scaler, TF-IDF rows are already L2-normalised). A
    raw-text classifier (``finetune``) reads the strings itself, whatever `text` says.
    scale: False when the caller scales already (early fusion scales per block). The linear SVM
    also divides the standardised columns by sqrt(d) (:func:`~trimodal.learn.estimators.unit_rows`),
    so its C means the same at 12 and at 1,280 dimensions.
    rebalance: wrap everything in trimodal.learn.rebalance.RebalancedClassifier (resampling inside fit).
    params: passed to the model (e.g. C=10, hidden_layer_sizes=(64,)).
    """
    if name not in CLASSIFIERS:
        raise KeyError(f"unknown classifier {name!r}; known: {sorted(CLASSIFIERS)}")
    kind = CLASSIFIERS[name]
    model = kind.build(seed, class_weight, proba, params)
    steps: list[tuple[str, Any]] = []
    if text is not None and not kind.raw_text:  # a raw-text model reads the strings itself
        steps.append(("vectorize", make_text_vectorizer(text)))
        if kind.dense:
            steps.append(("dense", FunctionTransformer(to_dense, accept_sparse=True)))
    elif scale and kind.scaler in ("standard", "unit"):
        steps.append(("scale", StandardScaler()))
        if kind.scaler == "unit":
            steps.append(("unit", FunctionTransformer(unit_rows)))
    if kind.scaler == "minmax" and text is None:  # NB on counts needs non-negative inputs
        steps.append(("nonneg", MinMaxScaler(clip=True)))
    steps.append(("clf", model))
    pipe = Pipeline(steps)
    if not rebalance:
        return pipe
    from trimodal.learn.rebalance import RebalancedClassifier

    return RebalancedClassifier(pipe, seed)
