"""The hubness correction chosen inside each training fold, like any other setting.

A correction that helps on one corpus can hurt on another (on a 491-clip corpus the dynamic
inverted softmax at beta 20 lowered R@1 from 0.18 to 0.13, while the plain inverted softmax
raised it), and the demo's small test folds have no hubs to judge by. So the ``select`` ranking
scores every candidate (cosine, CSLS, the inverted softmax and the query-bank normalisation,
each softmax at every beta of a small grid) by the mean reciprocal rank of an inner
cross-validation of the outer training rows only, and ranks the outer test fold with the best;
cosine comes first, so a correction is taken only when the inner folds prefer it. The inner folds
are the project's own (:func:`trimodal.learn.cv.make_folds`, groups kept on one side); the
mapping is refitted on each inner training part, and the bank of every correction is that
part's mapped queries and items, as in the outer evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from trimodal.crossmodal.retrieval import HUB_K, corrected_similarity, true_ranks
from trimodal.learn.cv import NotEvaluated, make_folds, splits_from_assignment

#: the corrections ``select`` chooses among (cosine first: it wins ties)
SELECT_CANDIDATES = ("cosine", "csls", "isoftmax", "qbnorm")
#: the inverse temperatures tried for the softmax corrections
BETA_GRID = (5.0, 10.0, 20.0, 40.0)
INNER_FOLDS = 3

#: fit(Xs_fit, Xt_fit, Xs_apply, Xt_apply, seed) -> (queries, items) of the apply rows
Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], tuple]


def ranking_candidates(
    rankings: Sequence[str] = SELECT_CANDIDATES, betas: Sequence[float] = BETA_GRID
) -> list[tuple[str, float | None]]:
    """(ranking, beta) pairs; beta is None for the rankings that have none."""
    out: list[tuple[str, float | None]] = []
    for r in rankings:
        if r in ("qbnorm", "isoftmax"):
            out += [(r, float(b)) for b in betas]
        else:
            out.append((r, None))
    return out


def candidate_name(ranking: str, beta: float | None) -> str:
    return ranking if beta is None else f"{ranking}(beta={beta:g})"


def inner_ranking_scores(
    fit: Fit,
    Xs: np.ndarray,
    Xt: np.ndarray,
    ids: Sequence,
    groups: Sequence | None = None,
    seed: int = 0,
    hub_k: int = HUB_K,
    candidates: Sequence[tuple[str, float | None]] | None = None,
    inner_folds: int = INNER_FOLDS,
) -> dict[str, float]:
    """Mean inner-fold MRR of each candidate ranking on these (training) rows only.

    Raises :class:`~trimodal.learn.cv.NotEvaluated` when the rows cannot make two inner folds
    of two rows."""
    candidates = list(candidates or ranking_candidates())
    fset = make_folds([str(i) for i in ids], None, groups, inner_folds, seed)
    splits = splits_from_assignment(fset.of([str(i) for i in ids]))
    if len(splits) < 2 or any(len(te) < 2 for _, _, te in splits):
        raise NotEvaluated(f"{len(ids)} training rows: too few for inner folds")
    scores: dict[str, list[float]] = {candidate_name(*c): [] for c in candidates}
    for f, a, b in splits:
        both = np.concatenate([a, b])
        Q, K = fit(Xs[a], Xt[a], Xs[both], Xt[both], seed + 1000 + f)[:2]
        n_a = len(a)
        for ranking, beta in candidates:
            S = corrected_similarity(
                Q[n_a:], K[n_a:], Q[:n_a], K[:n_a], ranking, k=hub_k, beta=beta or 20.0
            )
            scores[candidate_name(ranking, beta)].append(float(np.mean(1.0 / true_ranks(S))))
    return {name: float(np.mean(v)) for name, v in scores.items()}


def choose_ranking(
    scores: dict[str, float], candidates: Sequence[tuple[str, float | None]] | None = None
) -> tuple[str, float | None]:
    """The best candidate by inner MRR; the first of equals (cosine before any correction)."""
    candidates = list(candidates or ranking_candidates())
    return max(candidates, key=lambda c: scores[candidate_name(*c)])


__all__ = [
    "BETA_GRID",
    "INNER_FOLDS",
    "SELECT_CANDIDATES",
    "candidate_name",
    "choose_ranking",
    "inner_ranking_scores",
    "ranking_candidates",
]
