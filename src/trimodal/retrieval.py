"""Retrieval metrics for cross-modal mapping, each beside its chance level.

Query i is row i of the predictions (or of a similarity matrix); its true item is item i of the
targets. A number such as R@10 = 0.2 means nothing alone: with 50 test items chance is 0.2 too.
So every metric comes with the value a random ranking would get on the same n (and labels).

Ties count against the query (rank = 1 + number of other items scored >= the true one): a model
that outputs the same vector for every input must not look good because everything ties.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KS = (1, 5, 10)
METRICS = ("R@1", "R@5", "R@10", "median_rank", "mrr", "diversity", "label_agreement")


def cosine_similarity_matrix(P: np.ndarray, T: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """S[i, j] = cos(P[i], T[j]); a zero row gets similarity 0 to everything."""
    P = np.asarray(P, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    if P.ndim != 2 or T.ndim != 2 or P.shape[1] != T.shape[1]:
        raise ValueError(f"P and T must be 2-D with the same width, got {P.shape} and {T.shape}")
    Pn = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), eps)
    Tn = T / np.maximum(np.linalg.norm(T, axis=1, keepdims=True), eps)
    return Pn @ Tn.T


def true_ranks(S: np.ndarray) -> np.ndarray:
    """1-based rank of item i in row i of S, ties counted against the query."""
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be square (query i matches item i), got {S.shape}")
    diag = np.diag(S)[:, None]
    ge = (S >= diag).sum(axis=1) - 1  # other items scored at least as high as the true one
    return 1 + ge


def nearest_items(S: np.ndarray) -> np.ndarray:
    """Top-1 retrieved item of each query (lowest index among exact ties, as argmax does)."""
    return np.asarray(S).argmax(axis=1)


def chance_levels(n: int, labels: Sequence | None = None) -> dict[str, float]:
    """What a uniformly random ranking gets on n items (exact expectations)."""
    out = {f"R@{k}": min(k, n) / n for k in KS}
    # median of a uniform rank on 1..n (the median rank of n random queries concentrates here)
    out["median_rank"] = (n + 1) / 2
    out["mrr"] = float(np.sum(1.0 / np.arange(1, n + 1)) / n)  # H_n / n
    # expected share of distinct items when n queries each pick one of n items at random
    out["diversity"] = 1.0 - (1.0 - 1.0 / n) ** n
    if labels is not None:
        _, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
        p = counts / counts.sum()
        out["label_agreement"] = float(np.sum(p**2))
    else:
        out["label_agreement"] = float("nan")
    return out


def metrics_from_similarity(S: np.ndarray, labels: Sequence | None = None) -> dict[str, float]:
    """All metrics for a square similarity matrix (rows = queries, columns = items)."""
    S = np.asarray(S, dtype=np.float64)
    n = S.shape[0]
    if n < 2:
        raise ValueError("retrieval needs at least 2 items")
    ranks = true_ranks(S)
    nn = nearest_items(S)
    out: dict[str, float] = {"n": n}
    for k in KS:
        out[f"R@{k}"] = float(np.mean(ranks <= k))
    out["median_rank"] = float(np.median(ranks))
    out["mrr"] = float(np.mean(1.0 / ranks))
    out["n_distinct_nn"] = int(len(np.unique(nn)))
    out["diversity"] = out["n_distinct_nn"] / n
    if labels is not None:
        lab = np.asarray(labels, dtype=object).astype(str)
        if len(lab) != n:
            raise ValueError(f"{len(lab)} labels for {n} queries")
        out["label_agreement"] = float(np.mean(lab[nn] == lab))
    else:
        out["label_agreement"] = float("nan")
    for name, value in chance_levels(n, labels).items():
        out[f"chance_{name}"] = value
    return out


def retrieval_metrics(
    P: np.ndarray, T: np.ndarray, labels: Sequence | None = None
) -> dict[str, float]:
    """Rank each true target among all targets by cosine similarity to its prediction.

    P: predicted target vectors (n, d); T: true target vectors of the same rows, same order;
    labels: optional class of each row, for label agreement (top-1 item shares the class).
    """
    P = np.asarray(P)
    T = np.asarray(T)
    if P.shape[0] != T.shape[0]:
        raise ValueError(f"{P.shape[0]} predictions for {T.shape[0]} targets")
    return metrics_from_similarity(cosine_similarity_matrix(P, T), labels)
