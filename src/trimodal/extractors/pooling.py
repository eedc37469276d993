"""Pooling of per-window vectors into one vector per video.

Attention pooling here is *energy-based* (no learned weights): each window is weighted by the
softmax of its L2 norm (standardised over the video), so loud/salient windows count more than
near-silent or near-blank ones. It needs no labels, so it can be computed once in the extract job
and stored beside mean and max without leaking anything into cross-validation; a learned attention
belongs in the fusion network, where it is trained per fold.
"""

from __future__ import annotations

import numpy as np


def mean_pool(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).mean(axis=0).astype(np.float32)


def max_pool(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).max(axis=0)


def attention_pool(x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Energy-weighted mean: weights = softmax(z(||x_i||) / temperature)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 1:
        return x[0].astype(np.float32)
    energy = np.linalg.norm(x, axis=1)
    std = energy.std()
    z = (energy - energy.mean()) / std if std > 0 else np.zeros_like(energy)
    w = np.exp(z / temperature - np.max(z / temperature))
    w /= w.sum()
    return (w[:, None] * x).sum(axis=0).astype(np.float32)


def pool_all(windows: np.ndarray) -> dict[str, np.ndarray]:
    """The standard pooled vectors every windowed extractor stores: mean, max, attn, mean_max."""
    windows = np.asarray(windows)
    if windows.ndim != 2 or len(windows) == 0:
        raise ValueError(f"need a non-empty (n_windows, d) array, got shape {windows.shape}")
    mean, mx = mean_pool(windows), max_pool(windows)
    return {
        "mean": mean,
        "max": mx,
        "attn": attention_pool(windows),
        "mean_max": np.concatenate([mean, mx]).astype(np.float32),
    }
