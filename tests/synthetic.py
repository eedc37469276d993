"""Synthetic feature matrices shared by tests and benchmarks."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_classification


def embedding_like(seed: int = 0):
    """500 x 1,280 like pooled CNN embeddings: non-negative, correlated, low rank (a ReLU of a
    random map of a 64-d make_classification problem, 8 imbalanced classes); (X, y, ids). The
    old linear-SVC settings fail to converge here, as issue 13 saw on real EfficientNet
    features."""
    rng = np.random.default_rng(seed)
    Z, yi = make_classification(
        n_samples=500,
        n_features=64,
        n_informative=16,
        n_redundant=8,
        n_classes=8,
        weights=[0.4, 0.2, 0.1, 0.1, 0.08, 0.06, 0.04, 0.02],
        class_sep=0.8,
        random_state=seed,
    )
    X = np.maximum(Z @ rng.normal(size=(64, 1280)) / 8 + 0.3 * rng.normal(size=(500, 1280)), 0)
    y = np.array([f"c{i}" for i in yi], dtype=object)
    ids = np.array([f"v{i:03d}" for i in range(len(y))], dtype=object)
    return X, y, ids
