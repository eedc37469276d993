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
from sklearn.cross_decomposition import CCA
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from trimodal.atomic import save_figure
from trimodal.cv import Folds, NotEvaluated, label_set_folds, make_folds, splits_from_assignment
from trimodal.retrieval import METRICS, metrics_from_similarity, retrieval_metrics
from trimodal.training import train_early_stopping

METHODS = ("ridge", "cca", "mlp", "autoencoder")
NEURAL = ("mlp", "autoencoder")
LOSSES = ("mse", "contrastive")
RIDGE_ALPHAS = np.logspace(-2, 5, 15)


# --------------------------------------------------------------------------- target space


class _TargetSpace:
    """Centre with the training mean and divide by one global RMS (keeps cosine geometry).

    center=False keeps the raw embeddings (only the global scale), as the original study
    compared them; there a prediction near the mean target retrieves the same few "hub" items.
    """

    def __init__(self, center: bool = True):
        self.center = center

    def fit(self, T: np.ndarray) -> _TargetSpace:
        self.mean_ = T.mean(axis=0) if self.center else np.zeros(T.shape[1])
        self.scale_ = float(np.sqrt(np.mean((T - self.mean_) ** 2))) or 1.0
        return self

    def transform(self, T: np.ndarray) -> np.ndarray:
        return (T - self.mean_) / self.scale_


# --------------------------------------------------------------------------- neural models


def _torch():
    import torch  # lazy: ridge / cca users need no torch import

    return torch


def _build_net(method: str, d_in: int, d_out: int, kw: dict[str, Any]):
    torch = _torch()
    nn = torch.nn
    dropout = float(kw.get("dropout", 0.1))

    def mlp(widths: Sequence[int]) -> list:
        layers: list = []
        for a, b in zip(widths[:-2], widths[1:-1], strict=True):
            layers += [nn.Linear(a, b), nn.GELU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(widths[-2], widths[-1]))
        return layers

    if method == "mlp":
        hidden = list(kw.get("hidden") or [max(d_out, 64)])
        if min(hidden) < d_out:
            raise ValueError(f"mlp hidden widths {hidden} must be >= the output size {d_out}")
        return _MapNet(nn.Sequential(*mlp([d_in, *hidden, d_out])), None)
    latent = int(kw.get("latent", 64))
    hidden = int(kw.get("ae_hidden") or max(d_in, d_out, latent))
    encoder = nn.Sequential(*mlp([d_in, hidden, latent]), nn.GELU())
    decoder = nn.Sequential(*mlp([latent, hidden, d_out]))
    recon = None
    if float(kw.get("recon_weight", 0.0)) > 0:
        recon = nn.Sequential(*mlp([latent, hidden, d_in]))
    return _MapNet(nn.Sequential(encoder, decoder), recon, encoder=encoder, decoder=decoder)


class _MapNet:
    """Holds the mapping network and, for the auto-encoder, its reconstruction decoder."""

    def __init__(self, net, recon, encoder=None, decoder=None):
        self.net, self.recon, self.encoder, self.decoder = net, recon, encoder, decoder

    def modules(self):
        return [m for m in (self.net, self.recon) if m is not None]

    def forward(self, x):
        if self.recon is None:
            return self.net(x), None
        z = self.encoder(x)
        return self.decoder(z), self.recon(z)


def _loss_fn(loss: str, temperature: float):
    torch = _torch()
    F = torch.nn.functional

    if loss == "mse":
        return lambda pred, target: F.mse_loss(pred, target)

    def info_nce(pred, target):
        p = F.normalize(pred, dim=1)
        t = F.normalize(target, dim=1)
        logits = p @ t.T / temperature
        labels = torch.arange(len(p), device=p.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))

    return info_nce


def fit_neural(
    Xs: np.ndarray, Xt: np.ndarray, method: str, loss: str = "mse", seed: int = 0, **kw
) -> tuple[Any, dict[str, Any]]:
    """Train on (Xs, Xt) with early stopping on an inner validation split; returns (predict, info).

    kw: hidden, latent, ae_hidden, recon_weight, dropout, lr, weight_decay, batch_size,
    max_epochs, patience, val_size, temperature, device, threads.
    """
    torch = _torch()
    if kw.get("threads"):
        torch.set_num_threads(int(kw["threads"]))
    device = torch.device(kw.get("device", "cpu"))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    idx_tr, idx_va = train_test_split(
        np.arange(len(Xs)), test_size=float(kw.get("val_size", 0.15)), random_state=seed
    )
    xs_scaler = StandardScaler().fit(Xs[idx_tr])
    to_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)  # noqa: E731
    xtr, xva = to_t(xs_scaler.transform(Xs[idx_tr])), to_t(xs_scaler.transform(Xs[idx_va]))
    ttr, tva = to_t(Xt[idx_tr]), to_t(Xt[idx_va])

    model = _build_net(method, Xs.shape[1], Xt.shape[1], kw)
    params = [p for m in model.modules() for p in m.parameters()]
    for m in model.modules():
        m.to(device)
    opt = torch.optim.AdamW(
        params, lr=float(kw.get("lr", 1e-3)), weight_decay=float(kw.get("weight_decay", 1e-4))
    )
    main_loss = _loss_fn(loss, float(kw.get("temperature", 0.1)))
    recon_weight = float(kw.get("recon_weight", 0.0))
    bs = int(kw.get("batch_size", 64))
    max_epochs, patience = int(kw.get("max_epochs", 300)), int(kw.get("patience", 20))

    def total_loss(x, t):
        pred, rec = model.forward(x)
        value = main_loss(pred, t)
        if rec is not None:
            value = value + recon_weight * torch.nn.functional.mse_loss(rec, x)
        return value

    def train_epoch(epoch: int) -> None:
        order = rng.permutation(len(xtr))
        for start in range(0, len(order), bs):
            batch = order[start : start + bs]
            if len(batch) < 2:  # InfoNCE needs negatives; a lone row adds nothing
                continue
            opt.zero_grad()
            total_loss(xtr[batch], ttr[batch]).backward()
            opt.step()

    run = train_early_stopping(
        model.modules(), train_epoch, lambda: total_loss(xva, tva), max_epochs, patience
    )

    def predict(X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out, _ = model.forward(to_t(xs_scaler.transform(X)))
        return out.cpu().numpy().astype(np.float64)

    # best_epoch 0 when no epoch improved (a non-finite validation loss throughout)
    info = {
        "best_epoch": max(run.best_epoch, 0),
        "epochs": run.epochs_run,
        "val_loss": run.best_val,
    }
    return predict, info


# --------------------------------------------------------------------------- one fold


def _fold_similarity(
    Xs_tr, Xt_tr, Xs_te, Xt_te, method: str, loss: str, seed: int, kw: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(query vectors, item vectors, info) for the test rows of one fold."""
    if method == "cca":
        n_comp = int(kw.get("n_components", 16))
        n_comp = max(1, min(n_comp, Xs_tr.shape[1], Xt_tr.shape[1], len(Xs_tr) - 1))
        cca = CCA(n_components=n_comp, max_iter=int(kw.get("max_iter", 500)))
        cca.fit(Xs_tr, Xt_tr)
        xs_scores, yt_scores = cca.transform(Xs_te, Xt_te)
        return xs_scores, yt_scores, {"n_components": n_comp}
    space = _TargetSpace(center=kw.get("target_space", "centered") == "centered").fit(Xt_tr)
    T_tr, T_te = space.transform(Xt_tr), space.transform(Xt_te)
    if method == "ridge":
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=kw.get("alphas", RIDGE_ALPHAS)))
        model.fit(Xs_tr, T_tr)
        return model.predict(Xs_te), T_te, {"alpha": float(model[-1].alpha_)}
    predict, info = fit_neural(Xs_tr, T_tr, method, loss=loss, seed=seed, **kw)
    return predict(Xs_te), T_te, info


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
    **kw,
) -> dict[str, Any]:
    """Cross-validated cross-modal retrieval of one (source, target) pair; mean and std.

    folds: the label set's :class:`~trimodal.cv.Folds` (restricted here to `ids`), or a number
    of folds made on these rows by :func:`trimodal.cv.make_folds` (stratified by `labels`,
    grouped by `groups`). Returns a flat dict: for each metric m, `m` (mean over folds),
    `m_std`, `chance_m`; plus method, loss, folds, n, d_source, d_target, n_test (mean
    test-fold size), `per_fold` (list of each fold's metrics and fit info, e.g. chosen alpha or
    best epoch) and `fold` (the test fold of each row). Too few rows for two folds of two
    videos raises :class:`~trimodal.cv.NotEvaluated`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if method not in NEURAL and loss != "mse":
        raise ValueError(f"{method} has a closed-form fit; only the neural methods take a loss")
    Xs = np.asarray(Xs, dtype=np.float64)
    Xt = np.asarray(Xt, dtype=np.float64)
    if len(Xs) != len(Xt):
        raise ValueError(f"{len(Xs)} source rows for {len(Xt)} target rows")
    if ids is not None and len(ids) != len(Xs):
        raise ValueError("ids must give one id per row")
    lab = None if labels is None else np.asarray(labels, dtype=object)
    row_ids = [str(i) for i in (range(len(Xs)) if ids is None else ids)]
    if isinstance(folds, Folds):
        fset, seed = folds, folds.seed
    else:
        fset = make_folds(row_ids, lab, groups, folds, seed)
    assign = fset.of(row_ids)
    splits = splits_from_assignment(assign)
    small = [f for f, _, te in splits if len(te) < 2]
    if len(splits) < 2 or small:
        raise NotEvaluated(
            f"{len(Xs)} videos in {len(splits)} folds: retrieval needs two folds of two videos"
        )
    per_fold = []
    for fold, tr, te in splits:
        Q, K, info = _fold_similarity(Xs[tr], Xt[tr], Xs[te], Xt[te], method, loss, seed + fold, kw)
        m = retrieval_metrics(Q, K, None if lab is None else lab[te])
        m.update({f"fit_{k}": v for k, v in info.items()})
        m["fold"] = fold
        per_fold.append(m)
    out = summarise_folds(
        per_fold,
        method=method,
        loss=loss,
        folds=len(splits),
        n=len(Xs),
        d_source=Xs.shape[1],
        d_target=Xt.shape[1],
    )
    out["fold"] = assign
    return out


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
    from trimodal.store import load_pooled, store_attrs

    extractor, _, pooling = spec.partition(":")
    path = Path(store_dir) / f"{extractor}.h5"
    if int(store_attrs(path).get("n_videos", 1)) == 0:
        raise NotEvaluated(f"the store {path.name} holds no video")
    return load_pooled(path, pooling or "mean")


def _provenance(store_dir, spec: str) -> dict[str, Any]:
    """What produced the store of `spec` (see :func:`trimodal.classify.read_provenance`)."""
    from trimodal.classify import feature_set_provenance

    return feature_set_provenance(spec, store_dir)


def align(*pairs: tuple[np.ndarray, np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Rows of each (X, ids) restricted to the common ids, in the first store's order."""
    common = set(map(str, pairs[0][1]))
    for _, ids in pairs[1:]:
        common &= set(map(str, ids))
    order = [str(i) for i in pairs[0][1] if str(i) in common]
    mats = []
    for X, ids in pairs:
        pos = {str(i): k for k, i in enumerate(ids)}
        mats.append(np.asarray(X)[[pos[i] for i in order]])
    return mats, np.asarray(order, dtype=object)


def run_pairs(
    pairs_config: dict[str, Any] | Sequence[dict[str, str]],
    store_dir: str | os.PathLike,
    labels_df: pd.DataFrame | None = None,
    with_folds: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Every pair x method x loss of the config; one row each, metrics beside their chance.

    pairs_config: either a list of {source: "extractor:pooling", target: "extractor:pooling"} or
    a dict {pairs: [...], methods: [...], losses: [...], folds, seed, params: {method: {kw}}}.
    With a label set (labels_df: video_id, label[, group]) retrieval runs on its videos and on
    its folds (:func:`trimodal.cv.label_set_folds`: the folds of every other evaluation, groups
    kept on one side); without, on every shared video with folds made on them. A pair that
    cannot be cross-validated gets one row per method with a "not evaluated" `note` and no
    metrics. Each row's `provenance` (JSON) is what produced its two stores. with_folds: also return the fold of each video (source, target, video_id, fold).
    """
    cfg = {"pairs": pairs_config} if not isinstance(pairs_config, dict) else dict(pairs_config)
    methods = cfg.get("methods", list(METHODS))
    losses = cfg.get("losses", ["mse"])
    folds, seed = int(cfg.get("folds", 5)), int(cfg.get("seed", 0))
    params = cfg.get("params", {}) or {}
    lab_index = None
    if labels_df is not None:
        lab_index = labels_df.drop_duplicates("video_id").set_index("video_id")
        lab_index.index = lab_index.index.astype(str)
    rows, fold_rows = [], []
    for pair in cfg["pairs"]:
        src, tgt = pair["source"], pair["target"]
        runs = [(m, lo) for m in methods for lo in (losses if m in NEURAL else ["mse"])]
        prov = json.dumps(
            {fs: _provenance(store_dir, fs) for fs in (src, tgt)}, sort_keys=True, default=str
        )
        try:
            (Xs, Xt), ids = align(_load_feature(store_dir, src), _load_feature(store_dir, tgt))
            labels = None
            fset: int | Folds = folds
            if lab_index is not None:
                keep = np.isin(ids.astype(str), lab_index.index.to_numpy(dtype=str))
                Xs, Xt, ids = Xs[keep], Xt[keep], ids[keep]
                labels = lab_index.loc[ids.astype(str), "label"].to_numpy(dtype=object)
                fset = label_set_folds(labels_df, folds, seed, min_classes=1)
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
                    **params.get(method, {}),
                )
                res.pop("per_fold")
                assign = res.pop("fold")
                rows.append({"source": src, "target": tgt, **res, "note": "", "provenance": prov})
            fold_rows.append(
                pd.DataFrame(
                    {"source": src, "target": tgt, "video_id": ids.astype(str), "fold": assign}
                )
            )
        except NotEvaluated as e:
            rows += [
                {"source": src, "target": tgt, "method": m, "loss": lo, "note": e.reason}
                | {"provenance": prov}
                for m, lo in runs
            ]
    df = pd.DataFrame(rows)
    if not with_folds:
        return df
    cols = ["source", "target", "video_id", "fold"]
    return df, (
        pd.concat(fold_rows, ignore_index=True) if fold_rows else pd.DataFrame(columns=cols)
    )


# --------------------------------------------------------------------------- report helpers


def _fmt(v: float, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def crossmodal_table(df: pd.DataFrame) -> pd.DataFrame:
    """The display table: each metric as `mean ± std (chance)`; `#` numbers the rows; a pair
    that was not evaluated shows its reason in place of the metrics."""
    cols = [
        ("R@1", 2),
        ("R@10", 2),
        ("median_rank", 1),
        ("mrr", 3),
        ("diversity", 2),
        ("label_agreement", 2),
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
            "n": "–" if pd.isna(n) else str(int(n)),
        }
        if isinstance(note, str) and note.startswith("not evaluated"):
            row.update({c: (note if j == 0 else "–") for j, (c, _) in enumerate(cols)})
        else:
            for c, d in cols:
                row[c] = f"{_fmt(r[c], d)} ± {_fmt(r[c + '_std'], d)} ({_fmt(r['chance_' + c], d)})"
        rows.append(row)
    return pd.DataFrame(
        rows, columns=["#", "source → target", "method", "loss", "n"] + [c for c, _ in cols]
    )


def crossmodal_table_md(df: pd.DataFrame) -> str:
    """Markdown table: each metric as `mean ± std (chance)`."""
    table = crossmodal_table(df)
    head = list(table.columns)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in head) + " |")
    return "\n".join(lines) + "\n\n(chance level in brackets; mean ± std over CV folds)\n"


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


__all__ = [
    "METHODS",
    "LOSSES",
    "crossmodal_cv",
    "fit_neural",
    "run_pairs",
    "align",
    "crossmodal_table",
    "crossmodal_table_md",
    "row_provenance",
    "crossmodal_heatmap",
    "metrics_from_similarity",
]
