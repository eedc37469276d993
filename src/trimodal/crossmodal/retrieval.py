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
import pandas as pd

KS = (1, 5, 10)
HUB_K = 10  # hubness is the skewness of N_10, the k-occurrence at k = 10
METRICS = (
    "R@1",
    "R@5",
    "R@10",
    "median_rank",
    "mean_rank",
    "mrr",
    "diversity",
    "label_agreement",
    "n10_skew",
    "never_retrieved",
)
RANKINGS = ("cosine", "csls", "qbnorm", "isoftmax")
#: the ranking chosen inside each training fold among the corrections (trimodal.crossmodal.select)
SELECT = "select"
#: what a config may name: the corrections, or the one chosen per fold
RANKING_CHOICES = (*RANKINGS, SELECT)


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
    out["mean_rank"] = (n + 1) / 2
    out["mrr"] = float(np.sum(1.0 / np.arange(1, n + 1)) / n)  # H_n / n
    # expected share of distinct items when n queries each pick one of n items at random
    out["diversity"] = 1.0 - (1.0 - 1.0 / n) ** n
    # a random top-k list: N_k ~ Binomial(n, k/n), skewness (1 - 2p) / sqrt(n p (1 - p))
    k = min(HUB_K, n - 1) if n > 1 else 1
    p = k / n
    out["n10_skew"] = float((1 - 2 * p) / np.sqrt(n * p * (1 - p))) if 0 < p < 1 else 0.0
    out["never_retrieved"] = float((1.0 - p) ** n)
    lab = _known_labels(labels)
    if lab is not None and (lab != "").sum() > 1:
        _, counts = np.unique(lab[lab != ""], return_counts=True)
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
    out["mean_rank"] = float(np.mean(ranks))
    out["mrr"] = float(np.mean(1.0 / ranks))
    out["n_distinct_nn"] = int(len(np.unique(nn)))
    out["diversity"] = out["n_distinct_nn"] / n
    occ = k_occurrence(S, min(HUB_K, n - 1))
    out["n10_skew"] = _skew(occ)
    out["never_retrieved"] = float(np.mean(occ == 0))
    lab = _known_labels(labels)
    if lab is not None and len(lab) != n:
        raise ValueError(f"{len(lab)} labels for {n} queries")
    # over the queries that have a label and whose top item has one (unlabelled rows are
    # still queries and candidates: label agreement is reported where labels exist)
    both = None if lab is None else (lab != "") & (lab[nn] != "")
    if both is not None and both.any():
        out["label_agreement"] = float(np.mean(lab[nn][both] == lab[both]))
    else:
        out["label_agreement"] = float("nan")
    for name, value in chance_levels(n, labels).items():
        out[f"chance_{name}"] = value
    return out


def _known_labels(labels: Sequence | None) -> np.ndarray | None:
    """Labels as strings, a missing one (None, NaN, "") as ""; None when no labels at all."""
    if labels is None:
        return None
    lab = pd.Series(list(labels), dtype=object).fillna("").astype(str).str.strip()
    return lab.to_numpy(dtype=object).astype(str)


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


# --------------------------------------------------------------------------- hubness


def k_occurrence(S: np.ndarray, k: int = HUB_K) -> np.ndarray:
    """N_k of every item: how many queries have it among their k most similar items (ties
    broken by index). A hub has a large N_k; an item nobody retrieves has N_k = 0."""
    S = np.asarray(S, dtype=np.float64)
    k = max(1, min(int(k), S.shape[1]))
    top = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.bincount(top.ravel(), minlength=S.shape[1])


def _skew(v: np.ndarray) -> float:
    """Sample skewness (0 for a constant vector: no hubs)."""
    v = np.asarray(v, dtype=np.float64)
    sd = v.std()
    return 0.0 if sd == 0 else float(np.mean((v - v.mean()) ** 3) / sd**3)


def _mean_topk(S: np.ndarray, k: int) -> np.ndarray:
    """Mean of the k largest values of each row."""
    k = max(1, min(int(k), S.shape[1]))
    return np.sort(S, axis=1)[:, -k:].mean(axis=1)


def corrected_similarity(
    Q: np.ndarray,
    K: np.ndarray,
    bank_Q: np.ndarray | None = None,
    bank_K: np.ndarray | None = None,
    ranking: str = "cosine",
    k: int = HUB_K,
    beta: float = 20.0,
) -> np.ndarray:
    """Similarity of test queries Q (rows) to test items K (columns), with a hubness correction
    that reads the TRAINING side only (bank_Q: the training fold's queries, i.e. its mapped
    sources; bank_K: its items, the training targets). No correction looks at other test
    queries, so a query's ranking does not depend on which other queries are tested with it.

    - ``cosine``: plain cosine.
    - ``csls`` (Conneau et al. 2018): 2 cos(q, t) - r_K(q) - r_Q(t), r_K(q) the mean cosine of q
      to its k nearest training items, r_Q(t) that of item t to its k nearest training queries:
      an item close to many queries (a hub) is penalised.
    - ``qbnorm`` (Bogolin et al. 2022, dynamic inverted softmax): for a query whose top item is
      the top item of some bank query (a potential hub), each item's score becomes
      exp(beta cos(q, t)) / sum over bank queries b of exp(beta cos(b, t)); other queries keep
      plain cosine. The bank is the training queries, never the test queries.
    - ``isoftmax`` (inverted softmax, Smith et al. 2017): that normalisation for every query,
      over the same training-query bank (the original normalises over the test queries, which is
      transductive; this one is not).
    """
    S = cosine_similarity_matrix(Q, K)
    if ranking == "cosine":
        return S
    if bank_Q is None or bank_K is None:
        raise ValueError(f"ranking {ranking!r} needs the training side (bank_Q, bank_K)")
    B = cosine_similarity_matrix(bank_Q, K)  # training queries x test items
    if ranking == "csls":
        r_q = _mean_topk(cosine_similarity_matrix(Q, bank_K), k)  # per test query
        r_t = _mean_topk(B.T, k)  # per test item, over the training queries
        return 2 * S - r_q[:, None] - r_t[None, :]
    if ranking in ("qbnorm", "isoftmax"):
        # log of exp(beta S) / sum_b exp(beta B): same ranking, no overflow
        m = B.max(axis=0)
        log_norm = m * beta + np.log(np.exp(beta * (B - m[None, :])).sum(axis=0))
        normed = beta * S - log_norm[None, :]
        if ranking == "isoftmax":
            return normed
        activated = np.zeros(K.shape[0], dtype=bool)
        activated[np.unique(B.argmax(axis=1))] = True  # items some bank query retrieves first
        use = activated[S.argmax(axis=1)]
        # a normalised score ranks only within its row, so rows may mix both scales
        return np.where(use[:, None], normed, S)
    raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
