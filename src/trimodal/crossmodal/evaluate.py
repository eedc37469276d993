"""Cross-modal mapping: predict one modality's embedding from another's, judged by retrieval.

For a (source, target) pair of pooled embeddings on the same videos, a model is fitted on the
training folds and, for each test video, its prediction is compared (cosine) with the true target
embeddings of every video of the TEST fold only: the rank of the right one gives R@k, median rank
and MRR, the distinct nearest neighbours give the original study's diversity measure (its MLP
collapsed toward the mean target: fewer than 10 distinct neighbours for 150 inputs). Test rows are
never seen in fitting, scaling, alpha selection or early stopping.

Methods:
- ``ridge``: StandardScaler + RidgeCV (alpha chosen by efficient leave-one-out on the training
  fold), one linear map to the target space.
- ``cca``: sklearn CCA fitted on the training fold. Retrieval happens in the shared CCA space:
  the source test rows are mapped with the x-side (their x_scores) and compared with the y_scores
  of the target test rows, i.e. we never reconstruct target embeddings. ``n_components`` is capped
  at min(d_source, d_target, n_train - 1).
- ``mlp``: PyTorch MLP regressor, hidden widths >= the output size (as the original study).
- ``autoencoder``: source -> latent (``latent`` wide) -> target, optionally with a second decoder
  reconstructing the source (``recon_weight`` > 0), trained jointly.

Losses for the neural methods: ``mse`` (regression to the target vector, which pulls every output
toward the mean target when the source says little) and ``contrastive`` (symmetric InfoNCE over
the batch on cosine similarities / temperature, which only rewards being closer to the right
target than to the other targets of the batch, the known remedy for that collapse).

Targets are centred with the training fold's mean and divided by one global scale (geometry kept)
before fitting; retrieval compares in that centred space, so the offset shared by all embeddings
of a model does not dominate cosine similarity (``target_space="raw"`` skips the centring, as the
original study did; ridge / mlp / autoencoder only).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trimodal.crossmodal.methods import CROSSMODAL_METHODS, LOSSES
from trimodal.crossmodal.ranking_choice import (
    candidate_name,
    choose_ranking,
    inner_ranking_scores,
    ranking_candidates,
)
from trimodal.crossmodal.retrieval import (
    HUB_K,
    METRICS,
    RANKING_CHOICES,
    SELECT,
    corrected_similarity,
    k_occurrence,
    metrics_from_similarity,
    true_ranks,
)
from trimodal.learn.cv import (
    TRAIN,
    UNUSED,
    VAL,
    Folds,
    NotEvaluated,
    label_set_folds,
    make_folds,
    protocol_folds,
    split_folds,
    splits_from_assignment,
)
from trimodal.learn.training import given_validation
from trimodal.plumbing.atomic import save_figure
from trimodal.store.rows import common_rows


def crossmodal_cv(
    Xs: np.ndarray,
    Xt: np.ndarray,
    ids: Sequence | None,
    method: str,
    loss: str = "mse",
    folds: int | Folds = 5,
    seed: int = 0,
    labels: Sequence | None = None,
    groups: Sequence | None = None,
    rankings: Sequence[str] = ("cosine",),
    hub_k: int = 10,
    beta: float = 20.0,
    **kw,
) -> dict[str, Any]:
    """Cross-validated cross-modal retrieval of one (source, target) pair; mean and std.

    rankings: how test items are ranked for a test query (:data:`trimodal.crossmodal.retrieval.RANKINGS`:
    plain cosine, or a hubness correction computed from the training fold only, with `hub_k`
    neighbours for CSLS and inverse temperature `beta` for the query-bank normalisations). The
    mapping is fitted once per fold; the result's metrics are those of the first ranking, and
    ``by_ranking`` holds the same summary for each ranking.

    folds: the label set's :class:`~trimodal.learn.cv.Folds` (restricted here to `ids`), or a number
    of folds made on these rows by :func:`trimodal.learn.cv.make_folds` (stratified by `labels`,
    grouped by `groups`). Returns a flat dict: for each metric m, `m` (mean over folds),
    `m_std`, `chance_m`; plus method, loss, folds, n, d_source, d_target, n_test (mean
    test-fold size), `per_fold` (list of each fold's metrics and fit info, e.g. chosen alpha or
    best epoch) and `fold` (the test fold of each row). Too few rows for two folds of two
    videos raises :class:`~trimodal.learn.cv.NotEvaluated`.
    """
    spec = method_spec(method, loss)
    Xs, Xt, row_ids = paired_rows(Xs, Xt, ids)
    lab = None if labels is None else np.asarray(labels, dtype=object)
    if isinstance(folds, Folds):
        fset, seed = folds, folds.seed
    else:
        fset = make_folds(row_ids, lab, groups, folds, seed)
    assign = fset.of(row_ids)
    splits = retrieval_splits(assign, fset.protocol, len(Xs))
    rankings = tuple(rankings)
    unknown = set(rankings) - set(RANKING_CHOICES)
    if unknown or not rankings:
        raise ValueError(f"rankings must be among {RANKING_CHOICES}, got {list(rankings)}")
    grp = None if groups is None else np.asarray(groups, dtype=object)
    split = fset.protocol == "split"  # one fold: train -> test, val for early stopping
    val = np.flatnonzero(assign == VAL) if split and spec.early_stops else np.array([], int)
    per_fold: dict[str, list] = {r: [] for r in rankings}
    retrieved: dict[str, list] = {r: [] for r in rankings}
    for fold, tr, te in splits:
        Q, K, info = fit_mapping(spec, Xs, Xt, tr, te, val, row_ids, grp, loss, seed + fold, kw)
        for ranking in rankings:
            chosen: dict[str, Any] = {}
            rk, rk_beta = ranking, beta
            if ranking == SELECT:  # chosen on the training rows of this fold only
                rk, rk_beta, chosen = select_ranking(
                    spec, Xs[tr], Xt[tr], [row_ids[i] for i in tr],
                    None if grp is None else grp[tr], loss, seed + fold, kw, hub_k,
                )  # fmt: skip
            S = corrected_similarity(
                Q[len(tr) :], K[len(tr) :], Q[: len(tr)], K[: len(tr)], rk, k=hub_k, beta=rk_beta
            )
            m = fold_metrics(S, None if lab is None else lab[te], len(te))
            m.update({f"fit_{k}": v for k, v in info.items()})
            m.update(chosen)
            m["fold"] = fold
            per_fold[ranking].append(m)
            retrieved[ranking].append(top_retrieved(S, te))
    head = dict(
        method=method,
        loss=loss,
        protocol=fset.protocol,
        folds=len(splits),
        n=len(Xs),
        d_source=Xs.shape[1],
        d_target=Xt.shape[1],
    )
    return cv_summary(per_fold, retrieved, rankings, head, assign)


def method_spec(method: str, loss: str):
    """The registered cross-modal method `method`, refusing a loss it does not take."""
    if method not in CROSSMODAL_METHODS:
        raise ValueError(f"method must be one of {tuple(CROSSMODAL_METHODS)}, got {method!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    spec = CROSSMODAL_METHODS[method]
    if loss not in spec.losses:
        raise ValueError(f"{method} has a closed-form fit; only the neural methods take a loss")
    return spec


def paired_rows(Xs, Xt, ids: Sequence | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The source and target rows as float64 (one of each per video) and the rows' ids (their
    positions when `ids` is None)."""
    Xs = np.asarray(Xs, dtype=np.float64)
    Xt = np.asarray(Xt, dtype=np.float64)
    if len(Xs) != len(Xt):
        raise ValueError(f"{len(Xs)} source rows for {len(Xt)} target rows")
    if ids is not None and len(ids) != len(Xs):
        raise ValueError("ids must give one id per row")
    return Xs, Xt, [str(i) for i in (range(len(Xs)) if ids is None else ids)]


def retrieval_splits(assign: np.ndarray, protocol: str, n: int) -> list:
    """(fold, train rows, test rows) of the rows' fold assignment; NotEvaluated where retrieval
    has too little to rank (a test fold under two videos, under two folds, or a split with no
    train videos)."""
    splits = splits_from_assignment(assign)
    small = [f for f, _, te in splits if len(te) < 2]
    if protocol == "split" and (not splits or small or not len(splits[0][1])):
        n_tr, n_te = int((assign == TRAIN).sum()), int((assign == 0).sum())
        raise NotEvaluated(
            f"split protocol: {n_tr} train and {n_te} test videos covered "
            "(retrieval needs train videos and two test videos)"
        )
    if protocol != "split" and (len(splits) < 2 or small):
        raise NotEvaluated(
            f"{n} videos in {len(splits)} folds: retrieval needs two folds of two videos"
        )
    return splits


def fit_mapping(spec, Xs, Xt, tr, te, val, row_ids, grp, loss: str, seed: int, kw: dict):
    """One fold's mapping fitted on its training rows, and the (Q, K, info) of the training
    rows then the test rows: the training rows go through the fitted mapping too (the fit sees
    them only as training rows), their queries and items are the bank of the hubness
    corrections. `val`: the official val videos a split early-stops on (none: no early stop);
    a method with inner folds gets the training rows' ids and groups (`grp`)."""
    both = np.concatenate([tr, te])
    if len(val):  # early-stop on the official val videos
        fit_rows = np.concatenate([tr, val])
        with given_validation(np.isin(fit_rows, val)):
            return spec.fit_fold(Xs[fit_rows], Xt[fit_rows], Xs[both], Xt[both], loss, seed, kw)
    if spec.inner_cv:  # its inner folds: the training rows' ids and groups
        g = None if grp is None else grp[tr]
        kw = {**kw, "inner_rows": (np.asarray(row_ids, dtype=object)[tr], g)}
    return spec.fit_fold(Xs[tr], Xt[tr], Xs[both], Xt[both], loss, seed, kw)


def fold_metrics(S: np.ndarray, labels, n_test: int) -> dict[str, Any]:
    """One fold's retrieval metrics from its test similarity matrix, and its k-occurrences."""
    m = metrics_from_similarity(S, labels)
    m["k_occurrence"] = k_occurrence(S, min(HUB_K, n_test - 1)).tolist()
    return m


def cv_summary(per_fold: dict, retrieved: dict, rankings: tuple, head: dict, assign) -> dict:
    """The flat result: the first ranking's summary, every ranking's (``by_ranking``), each
    row's test fold and, per ranking, each test query's top-k retrieved rows and rank."""
    by_ranking = {r: summarise_folds(per_fold[r], ranking=r, **head) for r in rankings}
    out = dict(by_ranking[rankings[0]])
    out["by_ranking"] = by_ranking
    out["fold"] = assign
    # per test query (row index): its top-k retrieved rows and the true item's rank
    out["retrieved"] = {
        r: tuple(np.concatenate(parts) for parts in zip(*retrieved[r], strict=True))
        for r in rankings
    }
    return out


def select_ranking(
    spec, Xs_tr, Xt_tr, ids_tr, groups_tr, loss: str, seed: int, kw: dict, hub_k: int
) -> tuple[str, float, dict[str, Any]]:
    """The ranking of the ``select`` row for one outer fold: the candidate with the best inner
    MRR on the outer training rows (:mod:`trimodal.crossmodal.ranking_choice`); cosine when
    they are too few for inner folds. Returns (ranking, beta, what to record as fit info)."""
    cands = ranking_candidates()

    def fit(a_s, a_t, b_s, b_t, s):
        return spec.fit_fold(a_s, a_t, b_s, b_t, loss, s, kw)[:2]

    try:
        scores = inner_ranking_scores(fit, Xs_tr, Xt_tr, ids_tr, groups_tr, seed, hub_k, cands)
    except NotEvaluated:
        return "cosine", 20.0, {"fit_ranking": "cosine (too few rows for inner folds)"}
    ranking, beta = choose_ranking(scores, cands)
    name = candidate_name(ranking, beta)
    return ranking, beta or 20.0, {"fit_ranking": name, "fit_inner_mrr": scores[name]}


#: retrieved items kept per query (the explorer's per-query view)
TOP_K = 10


def top_retrieved(S: np.ndarray, rows: np.ndarray, k: int = TOP_K):
    """(query rows, their top-k item rows (-1 past the fold's size), the true item's rank)
    of a test fold's similarity matrix S, whose query i and item i are row rows[i]."""
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    top = np.full((len(rows), k), -1, dtype=np.int64)
    top[:, : order.shape[1]] = np.asarray(rows)[order]
    return np.asarray(rows), top, true_ranks(S)


def summarise_folds(per_fold: list[dict[str, Any]], **head) -> dict[str, Any]:
    out: dict[str, Any] = dict(head)
    out["n_test"] = float(np.mean([f["n"] for f in per_fold]))
    for name in (*METRICS, "n_distinct_nn"):
        vals = np.array([f[name] for f in per_fold], dtype=float)
        out[name] = float(np.mean(vals)) if not np.all(np.isnan(vals)) else float("nan")
        out[f"{name}_std"] = float(np.std(vals)) if not np.all(np.isnan(vals)) else float("nan")
    for name in METRICS:
        out[f"chance_{name}"] = float(np.mean([f[f"chance_{name}"] for f in per_fold]))
    out["per_fold"] = per_fold
    return out


# --------------------------------------------------------------------------- pairs from stores


def _load_feature(store_dir: Path, spec: str) -> tuple[np.ndarray, np.ndarray]:
    """(pooled vectors, ids) of a feature set; an empty store raises NotEvaluated."""
    from trimodal.learn.classify import load_evaluable

    X, ids, _ = load_evaluable(spec, store_dir)
    return X, ids


def _provenance(store_dir, spec: str) -> dict[str, Any]:
    """What produced the store of `spec` (see :func:`trimodal.store.feature_sets.read_provenance`)."""
    from trimodal.store.feature_sets import feature_set_provenance

    return feature_set_provenance(spec, store_dir)


def _losses_of(method: str, losses: Sequence[str]) -> list[str]:
    """The configured losses a method trains with (a closed-form fit: mse only)."""
    known = CROSSMODAL_METHODS[method].losses if method in CROSSMODAL_METHODS else ("mse",)
    return [lo for lo in losses if lo in known] or ["mse"]


def pairs_settings(pairs_config: dict[str, Any] | Sequence[dict[str, str]]) -> dict[str, Any]:
    """The pairs config with every default filled in (methods, losses, folds, seed, params
    with the workflow's device, rankings, hubness settings, modalities)."""
    cfg = {"pairs": pairs_config} if not isinstance(pairs_config, dict) else dict(pairs_config)
    methods = cfg.get("methods", list(CROSSMODAL_METHODS))
    losses = cfg.get("losses", ["mse"])
    folds, seed = protocol_folds(cfg), int(cfg.get("seed", 0))
    params = cfg.get("params", {}) or {}
    if cfg.get("device"):  # the workflow's device, for the methods that train a network
        from trimodal.plumbing.device import pick_device

        device = pick_device(cfg["device"])
        params = {m: {"device": device, **params.get(m, {})} for m in methods}
    return {
        "methods": methods,
        "losses": losses,
        "folds": folds,
        "seed": seed,
        "params": params,
        "rankings": list(cfg.get("rankings", ["cosine"])),
        "hub": {k: cfg[k] for k in ("hub_k", "beta") if k in cfg},
        "modalities": cfg.get("modalities", {}) or {},  # feature set -> text, audio or video
        "pairs": cfg["pairs"],
    }


def pair_candidates(store_dir, src: str, tgt: str, videos, labels_df, folds, seed: int):
    """The videos both stores hold that take part (a split protocol drops those without a
    split): (Xs, Xt, ids, labels or None, groups or None, folds)."""
    (Xs, Xt), ids = common_rows(_load_feature(store_dir, src), _load_feature(store_dir, tgt))
    fset, labels, groups = candidate_folds(ids, videos, labels_df, folds, seed)
    keep = fset.of(ids) != UNUSED  # split protocol: videos without a split take no part
    Xs, Xt, ids, labels = Xs[keep], Xt[keep], ids[keep], labels[keep]
    groups = None if groups is None else groups[keep]
    if not (labels != "").any():
        labels = None  # no label anywhere: no label agreement
    return Xs, Xt, ids, labels, groups, fset


def keep_retrieved(retrieved: dict, found: dict, ids, run: tuple) -> None:
    """retrieved[(*run, ranking)] = (query ids, top-k ids ("" past a fold's size), rank)."""
    for rk, (q, top, rank) in found.items():
        top_ids = np.where(top >= 0, ids.astype(str)[top], "")
        retrieved[(*run, rk)] = (ids.astype(str)[q], top_ids, rank)


def ranking_row(head: dict, r: dict, prov: str) -> dict[str, Any]:
    """The table's row of one ranking's summary: metrics, what each fold selected, and the
    k-occurrences of every fold."""
    r = dict(r)
    per_fold = r.pop("per_fold")
    return (
        {**head, **r}
        | {"note": "", "provenance": prov}
        | {"selected": _selected(per_fold)}
        | {"k_occurrence": json.dumps([c for f in per_fold for c in f["k_occurrence"]])}
    )


def not_evaluated_rows(head: dict, runs, rankings, folds, reason: str, prov: str) -> list[dict]:
    """One "not evaluated" row per method x loss x ranking of a pair, without metrics."""
    return [
        head
        | {"method": m}
        | {"loss": lo, "note": reason}
        | {"protocol": "split" if folds == "split" else "kfold", "ranking": rk}
        | {"provenance": prov}
        for m, lo in runs
        for rk in rankings
    ]


def run_pairs(
    pairs_config: dict[str, Any] | Sequence[dict[str, str]],
    store_dir: str | os.PathLike,
    labels_df: pd.DataFrame | None = None,
    with_folds: bool = False,
    videos: pd.DataFrame | None = None,
    retrieved: dict | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Every pair x method x loss of the config; one row each, metrics beside their chance.

    pairs_config: either a list of {source: "extractor:pooling", target: "extractor:pooling"} or
    a dict {pairs: [...], methods: [...], losses: [...], rankings: [...], hub_k, beta, folds, seed,
    params: {method: {kw}}}: one row per pair x method x loss x ranking (the mapping is fitted
    once for all rankings; `selected` says what each fold's fit chose).
    Retrieval runs on every video that both stores hold, labelled or not, on the folds of
    :func:`candidate_folds` (videos: the sheet's video_id[, group][, split] rows; labels_df, an
    optional label set: label agreement where labels exist, and its folds for its videos). A pair that
    cannot be cross-validated gets one row per method with a "not evaluated" `note` and no
    metrics. Each row's `provenance` (JSON) is what produced its two stores. with_folds: also return the fold of each video (source, target, video_id, fold).
    retrieved: a dict filled with (source, target, method, loss, ranking) -> (query ids, top-k
    retrieved ids ("" past a fold's size), rank of the true item), per query.
    """
    st = pairs_settings(pairs_config)
    methods, losses, folds, seed = st["methods"], st["losses"], st["folds"], st["seed"]
    params, rankings, hub, modalities = st["params"], st["rankings"], st["hub"], st["modalities"]
    rows, fold_rows = [], []
    for pair in st["pairs"]:
        src, tgt = pair["source"], pair["target"]
        direction = f"{modalities.get(src, '?')} → {modalities.get(tgt, '?')}"
        head = {"source": src, "target": tgt, "direction": direction}
        runs = [(m, lo) for m in methods for lo in _losses_of(m, losses)]
        prov = json.dumps(
            {fs: _provenance(store_dir, fs) for fs in (src, tgt)}, sort_keys=True, default=str
        )
        try:
            Xs, Xt, ids, labels, groups, fset = pair_candidates(
                store_dir, src, tgt, videos, labels_df, folds, seed
            )
            for method, loss in runs:
                res = crossmodal_cv(
                    Xs,
                    Xt,
                    ids,
                    method,
                    loss=loss,
                    folds=fset,
                    seed=seed,
                    labels=labels,
                    groups=groups,
                    rankings=rankings,
                    **hub,
                    **params.get(method, {}),
                )
                assign = res.pop("fold")
                found = res.pop("retrieved")
                if retrieved is not None:
                    keep_retrieved(retrieved, found, ids, (src, tgt, method, loss))
                for r in res.pop("by_ranking").values():  # one row per ranking
                    rows.append(ranking_row(head, r, prov))
            fold_rows.append(
                pd.DataFrame(
                    {"source": src, "target": tgt, "video_id": ids.astype(str), "fold": assign}
                )
            )
        except NotEvaluated as e:
            rows += not_evaluated_rows(head, runs, rankings, folds, e.reason, prov)
    df = pd.DataFrame(rows)
    if not with_folds:
        return df
    cols = ["source", "target", "video_id", "fold"]
    return df, (
        pd.concat(fold_rows, ignore_index=True) if fold_rows else pd.DataFrame(columns=cols)
    )


def candidate_folds(
    ids,
    videos: pd.DataFrame | None,
    labels_df: pd.DataFrame | None,
    folds: int | str,
    seed: int = 0,
) -> tuple[Folds, np.ndarray, np.ndarray | None]:
    """The folds of the retrieval candidates `ids` (every video both stores hold), their labels
    ("" where none) and groups (None: no groups).

    Group and split come from `videos` (the sheet), else from the label set. Split protocol:
    each video's official split (:func:`trimodal.learn.cv.split_folds`). k-fold: a labelled
    video keeps its label set's fold (:func:`trimodal.learn.cv.label_set_folds`: the fold every
    classifier tests it in); an unlabelled one takes the fold of a labelled video of its group,
    and the others are dealt into folds by :func:`trimodal.learn.cv.make_folds` (groups kept)."""
    ids = np.asarray(ids).astype(str)
    cols = {}
    for src in (labels_df, videos):  # the sheet wins over the label set
        if src is None:
            continue
        t = src.assign(video_id=src["video_id"].astype(str)).drop_duplicates("video_id")
        t = t.set_index("video_id").reindex(ids)
        for c in ("group", "split") + (("label",) if src is labels_df else ()):
            if c in t:
                v = t[c].astype(object).where(t[c].notna(), "").astype(str).str.strip()
                cols[c] = v.where(v != "", cols[c]) if c in cols else v
    blank = pd.Series("", index=ids, dtype=object)
    labels = cols.get("label", blank).to_numpy(dtype=object)
    g = cols.get("group", blank).to_numpy(dtype=object)
    groups = g if (g != "").any() else None
    if folds == "split":
        if "split" not in cols:
            raise NotEvaluated("the split protocol needs a split column in the sample sheet")
        return split_folds(ids, cols["split"].to_numpy(dtype=object), seed), labels, groups
    n_folds = int(folds)
    labelled = labels != ""
    if labels_df is None or not labelled.any():
        return make_folds(ids, None, groups, n_folds, seed), labels, groups
    try:
        base = label_set_folds(labels_df, n_folds, seed, min_classes=1)
    except NotEvaluated:  # an empty label set: folds on the candidates alone
        return make_folds(ids, None, groups, n_folds, seed), labels, groups
    fold = np.array(base.fold.reindex(ids), dtype=float)  # a writable copy
    if groups is not None:  # an unlabelled clip joins its group's fold
        of_group = dict(zip(g[~np.isnan(fold)], fold[~np.isnan(fold)], strict=True))
        fold = np.array([of_group.get(gr, f) if np.isnan(f) else f for gr, f in zip(g, fold,
                         strict=True)])  # fmt: skip
    rest = np.flatnonzero(np.isnan(fold))
    if len(rest):
        try:
            made = make_folds(
                ids[rest], None, None if groups is None else g[rest], base.n_folds, seed
            )
            fold[rest] = made.of(ids[rest])
        except NotEvaluated:  # a single unlabelled video
            fold[rest] = 0
    note = base.note + (
        f"; {len(rest)} unlabelled videos dealt into the folds" if len(rest) else ""
    )
    out = Folds(
        fold=pd.Series(fold.astype(np.int32), index=pd.Index(ids, name="video_id"), name="fold"),
        folds_requested=n_folds,
        seed=seed,
        grouped=groups is not None,
        note=note.strip("; "),
    )
    return out, labels, groups


def _selected(per_fold: list[dict[str, Any]]) -> str:
    """What each fold's fit chose (alpha, method, temperature...), e.g. "alpha=100 | alpha=10"."""
    parts = []
    for f in per_fold:
        chosen = {k[4:]: v for k, v in f.items() if k.startswith("fit_")}
        keep = {k: v for k, v in chosen.items() if k not in ("epochs", "val_loss", "best_epoch")}
        parts.append(", ".join(f"{k}={_short(v)}" for k, v in keep.items()) or "-")
    return " | ".join(parts)


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------- report helpers


def _fmt(v: float, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def crossmodal_table(df: pd.DataFrame) -> pd.DataFrame:
    """The display table: each metric as `mean ± std (chance)`; `#` numbers the rows; a pair
    that was not evaluated shows its reason in place of the metrics."""
    cols = [
        ("R@1", 2),
        ("R@5", 2),
        ("R@10", 2),
        ("median_rank", 1),
        ("mean_rank", 1),
        ("mrr", 3),
        ("diversity", 2),
        ("label_agreement", 2),
        ("n10_skew", 2),
        ("never_retrieved", 2),
    ]
    rows = []
    for i, (_, r) in enumerate(df.iterrows()):
        note = r.get("note", "")
        n = r.get("n", float("nan"))
        row = {
            "#": i + 1,
            "source → target": f"{r['source']} → {r['target']}",
            "method": str(r["method"]),
            "loss": str(r["loss"]),
            "ranking": str(r.get("ranking", "cosine")),
            "n": "–" if pd.isna(n) else str(int(n)),
            "protocol": _protocol_text(r),
        }
        if isinstance(note, str) and note.startswith("not evaluated"):
            row.update({c: (note if j == 0 else "–") for j, (c, _) in enumerate(cols)})
        else:
            for c, d in cols:
                if c not in r or pd.isna(r[c]):  # a table written before the column existed
                    row[c] = "–"
                    continue
                row[c] = f"{_fmt(r[c], d)} ± {_fmt(r[c + '_std'], d)} ({_fmt(r['chance_' + c], d)})"
        sel = r.get("selected", "")
        row["selected per fold"] = sel if isinstance(sel, str) and sel else "–"
        rows.append(row)
    head = ["#", "source → target", "method", "loss", "ranking", "n", "protocol"]
    return pd.DataFrame(rows, columns=head + [c for c, _ in cols] + ["selected per fold"])


def _protocol_text(r) -> str:
    """Which protocol produced a row's numbers: "k-fold CV (5 folds)" or the official split
    with its number of test videos (the numbers are then over that one test set, std 0)."""
    protocol = r.get("protocol", "kfold")
    protocol = "kfold" if not isinstance(protocol, str) or not protocol else protocol
    if protocol == "split":
        n_test = r.get("n_test", float("nan"))
        return "official split" + ("" if pd.isna(n_test) else f", {int(n_test)} test videos")
    folds = r.get("folds", float("nan"))
    return "k-fold CV" + ("" if pd.isna(folds) else f" ({int(folds)} folds)")


def row_provenance(df: pd.DataFrame) -> list[dict[str, dict[str, Any]]]:
    """Per row of a cross-modal table, what produced its two stores (its provenance column)."""
    if "provenance" not in df:
        return [{} for _ in range(len(df))]
    return [json.loads(p) if isinstance(p, str) and p else {} for p in df["provenance"]]


def crossmodal_heatmap(df: pd.DataFrame, out_png: str | os.PathLike) -> Path:
    """Source x target grid of the best R@10 over methods/losses, annotated with method and chance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # best R@10 per cell, ties (common when R@10 saturates) broken by MRR; rows that were not
    # evaluated have no R@10 and leave their cell empty
    best = df.iloc[:0]
    if "R@10" in df:
        scored = df[df["R@10"].notna()]
        best = scored.sort_values(["R@10", "mrr"]).groupby(["source", "target"]).tail(1)
    sources, targets = sorted(df["source"].unique()), sorted(df["target"].unique())
    grid = np.full((len(sources), len(targets)), np.nan)
    fig, ax = plt.subplots(figsize=(2.2 + 1.8 * len(targets), 1.6 + 0.9 * len(sources)))
    for _, r in best.iterrows():
        i, j = sources.index(r["source"]), targets.index(r["target"])
        grid[i, j] = r["R@10"]
        ax.text(
            j,
            i,
            f"{r['R@10']:.2f}\n{r['method']}/{r['loss']}\nchance {r['chance_R@10']:.2f}",
            ha="center",
            va="center",
            fontsize=7,
        )
    im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", alpha=0.8)
    ax.set_xticks(range(len(targets)), targets, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(sources)), sources, fontsize=8)
    ax.set_xlabel("target")
    ax.set_ylabel("source")
    ax.set_title("best R@10 (test-fold retrieval)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out, dpi=120)
    plt.close(fig)
    return out


def hubness_figure(df: pd.DataFrame, out_png: str | os.PathLike) -> Path:
    """Per pair (one row of panels): the k-occurrence (N_10) distribution of the test items
    under plain cosine and under each correction, for the pair's best method by cosine MRR;
    then R@1 and R@10 bars per method and ranking, chance marked by a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = df[df["R@1"].notna()] if "R@1" in df else df.iloc[:0]
    if "ranking" not in scored:
        scored = scored.assign(ranking="cosine")
    pairs = list(scored.groupby(["source", "target"], sort=True))
    fig, axes = plt.subplots(
        max(len(pairs), 1), 3, figsize=(15, 3.2 * max(len(pairs), 1)), squeeze=False
    )
    for (src, tgt), rows in pairs:
        ax_h, ax_1, ax_10 = axes[pairs.index(((src, tgt), rows))]
        rows = rows.assign(run=rows["method"].astype(str) + "/" + rows["loss"].astype(str))
        rankings = list(dict.fromkeys(rows["ranking"]))
        cos = rows[rows["ranking"] == rankings[0]]
        best = cos.sort_values("mrr").iloc[-1]["run"]
        for ranking in rankings:
            hit = rows[(rows["run"] == best) & (rows["ranking"] == ranking)]
            if (
                "k_occurrence" not in hit
                or hit.empty
                or not isinstance(hit.iloc[0]["k_occurrence"], str)
            ):
                continue
            occ = np.asarray(json.loads(hit.iloc[0]["k_occurrence"]))
            skew = hit.iloc[0]["n10_skew"]
            ax_h.hist(
                occ,
                bins=np.arange(occ.max() + 2) - 0.5,
                histtype="step",
                lw=1.5,
                label=f"{ranking} (skew {skew:.2f})",
            )
        ax_h.set_xlabel("N_10 (queries that rank the item in their top 10)")
        ax_h.set_ylabel("test items")
        ax_h.set_title(f"{src} → {tgt}\nk-occurrence, {best}", fontsize=9)
        ax_h.legend(fontsize=7)
        runs = list(dict.fromkeys(rows["run"]))
        width = 0.8 / len(rankings)
        for ax, metric in ((ax_1, "R@1"), (ax_10, "R@10")):
            for j, ranking in enumerate(rankings):
                part = rows[rows["ranking"] == ranking].set_index("run").reindex(runs)
                ax.bar(
                    np.arange(len(runs)) + (j - (len(rankings) - 1) / 2) * width,
                    part[metric].to_numpy(dtype=float),
                    width,
                    yerr=part[f"{metric}_std"].to_numpy(dtype=float),
                    label=ranking,
                )
            ax.axhline(float(rows[f"chance_{metric}"].mean()), color="k", ls="--", lw=1)
            ax.text(len(runs) - 0.5, float(rows[f"chance_{metric}"].mean()), " chance", fontsize=7)
            ax.set_xticks(range(len(runs)), runs, rotation=30, ha="right", fontsize=7)
            ax.set_ylabel(metric)
            ax.set_ylim(0, 1)
            ax.set_title(f"{metric} per method and ranking", fontsize=9)
            ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out, dpi=100)
    plt.close(fig)
    return out


__all__ = [
    "LOSSES",
    "crossmodal_cv",
    "run_pairs",
    "crossmodal_table",
    "row_provenance",
    "crossmodal_heatmap",
    "hubness_figure",
    "metrics_from_similarity",
]
