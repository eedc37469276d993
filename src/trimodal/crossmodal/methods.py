"""The registry of cross-modal methods: how one fold maps a source embedding onto a target
(trimodal.crossmodal.evaluate cross-validates them and scores the retrieval).

A method is one function ``fit_fold(Xs_tr, Xt_tr, Xs_te, Xt_te, loss, seed, kw) -> (queries,
items, info)``: it fits on the training rows only and returns, for the test rows, the vectors
compared by cosine (queries from the source side, items from the target side) and what it chose
(an alpha, a best epoch). ``losses`` are the losses it can train with (the closed-form fits know
only ``mse``). scikit-learn and torch are imported inside the fits, so the config check reads
the names without loading them. A new method is one :func:`register_crossmodal_method` call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trimodal.learn.training import train_early_stopping, validation_split

LOSSES = ("mse", "contrastive")
RIDGE_ALPHAS = np.logspace(-2, 5, 15)


@dataclass(frozen=True)
class CrossModalMethod:
    name: str
    fit_fold: Callable[..., tuple[np.ndarray, np.ndarray, dict[str, Any]]]
    losses: tuple[str, ...] = ("mse",)
    #: early-stops on validation rows: the split protocol hands it the official val videos
    early_stops: bool = False
    #: trains a network (on a GPU when the device picks one): its job declares the GPU
    uses_gpu: bool = False
    #: selects by an inner CV of its training rows: gets their ids and groups (kw
    #: ``inner_rows``), so that its inner folds are the package's (grouped) folds
    inner_cv: bool = False


CROSSMODAL_METHODS: dict[str, CrossModalMethod] = {}


def register_crossmodal_method(
    name: str,
    fit_fold: Callable[..., Any],
    losses: Sequence[str] = ("mse",),
    early_stops: bool = False,
    uses_gpu: bool = False,
    inner_cv: bool = False,
) -> None:
    unknown = set(losses) - set(LOSSES)
    if unknown:
        raise ValueError(f"method {name!r}: unknown losses {sorted(unknown)}; known: {LOSSES}")
    CROSSMODAL_METHODS[name] = CrossModalMethod(
        name, fit_fold, tuple(losses), early_stops, uses_gpu, inner_cv
    )


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


def _loss_fn(loss: str, temperature):
    """temperature: a number, or a callable returning the (learnt) temperature tensor."""
    torch = _torch()
    F = torch.nn.functional

    if loss == "mse":
        return lambda pred, target: F.mse_loss(pred, target)

    def info_nce(pred, target):
        p = F.normalize(pred, dim=1)
        t = F.normalize(target, dim=1)
        logits = p @ t.T / (temperature() if callable(temperature) else temperature)
        labels = torch.arange(len(p), device=p.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))

    return info_nce


def _inner_split(n: int, seed: int, kw: dict) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows) for early stopping: the split protocol's validation
    videos when given, else a random val_size share."""
    from sklearn.model_selection import train_test_split

    return validation_split(  # the split protocol's val videos, when given
        n,
        lambda: train_test_split(
            np.arange(n), test_size=float(kw.get("val_size", 0.15)), random_state=seed
        ),
    )


def _net_and_optimizer(torch, method: str, Xs, Xt, kw: dict, device):
    """The network, on the device, and its AdamW optimiser."""
    model = _build_net(method, Xs.shape[1], Xt.shape[1], kw)
    params = [p for m in model.modules() for p in m.parameters()]
    for m in model.modules():
        m.to(device)
    opt = torch.optim.AdamW(
        params, lr=float(kw.get("lr", 1e-3)), weight_decay=float(kw.get("weight_decay", 1e-4))
    )
    return model, opt


def _contrastive_temperature(torch, kw: dict, opt, device):
    """(temperature, learnt module or None): a fixed float, or for "learn" a callable of a
    learnt log-temperature that opt trains."""
    temperature: Any = kw.get("temperature", 0.1)
    if temperature != "learn":
        return float(temperature), None
    # a learnt log-temperature (CLIP's), from 0.07, within [0.01, 1]
    learnt = torch.nn.Module()
    learnt.log_t = torch.nn.Parameter(torch.tensor(math.log(0.07), device=device))
    # a faster step for the one scalar: at the weights' lr it barely leaves its start
    # in the few hundred steps early stopping allows here
    t_lr = 10 * float(kw.get("lr", 1e-3))
    opt.add_param_group({"params": [learnt.log_t], "weight_decay": 0.0, "lr": t_lr})
    return (lambda: learnt.log_t.exp().clamp(0.01, 1.0)), learnt


def fit_neural(
    Xs: np.ndarray, Xt: np.ndarray, method: str, loss: str = "mse", seed: int = 0, **kw
) -> tuple[Any, dict[str, Any]]:
    """Train on (Xs, Xt) with early stopping on an inner validation split; returns (predict, info).

    kw: hidden, latent, ae_hidden, recon_weight, dropout, lr, weight_decay, batch_size,
    max_epochs, patience, val_size, temperature, device, threads.
    """
    from sklearn.preprocessing import StandardScaler

    torch = _torch()
    if kw.get("threads"):
        torch.set_num_threads(int(kw["threads"]))
    device = torch.device(kw.get("device", "cpu"))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    idx_tr, idx_va = _inner_split(len(Xs), seed, kw)
    xs_scaler = StandardScaler().fit(Xs[idx_tr])
    to_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)  # noqa: E731
    xtr, xva = to_t(xs_scaler.transform(Xs[idx_tr])), to_t(xs_scaler.transform(Xs[idx_va]))
    ttr, tva = to_t(Xt[idx_tr]), to_t(Xt[idx_va])

    model, opt = _net_and_optimizer(torch, method, Xs, Xt, kw, device)
    temperature, learnt = _contrastive_temperature(torch, kw, opt, device)
    main_loss = _loss_fn(loss, temperature)
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

    modules = [*model.modules(), *([learnt] if learnt is not None else [])]
    run = train_early_stopping(
        modules, train_epoch, lambda: total_loss(xva, tva), max_epochs, patience
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
    if learnt is not None and loss == "contrastive":
        info["temperature"] = float(temperature().detach())
    return predict, info


# --------------------------------------------------------------------------- built-ins


def _cca(Xs_tr, Xt_tr, Xs_te, Xt_te, loss, seed, kw):
    """Retrieval in the shared CCA space: source test rows by their x-scores, target test rows
    by their y-scores (no target embedding is reconstructed)."""
    from sklearn.cross_decomposition import CCA

    n_comp = int(kw.get("n_components", 16))
    n_comp = max(1, min(n_comp, Xs_tr.shape[1], Xt_tr.shape[1], len(Xs_tr) - 1))
    cca = CCA(n_components=n_comp, max_iter=int(kw.get("max_iter", 500)))
    cca.fit(Xs_tr, Xt_tr)
    xs_scores, yt_scores = cca.transform(Xs_te, Xt_te)
    return xs_scores, yt_scores, {"n_components": n_comp}


def _target_space(Xt_tr, Xt_te, kw):
    space = _TargetSpace(center=kw.get("target_space", "centered") == "centered").fit(Xt_tr)
    return space.transform(Xt_tr), space.transform(Xt_te)


def _ridge(Xs_tr, Xt_tr, Xs_te, Xt_te, loss, seed, kw):
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    T_tr, T_te = _target_space(Xt_tr, Xt_te, kw)
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=kw.get("alphas", RIDGE_ALPHAS)))
    model.fit(Xs_tr, T_tr)
    return model.predict(Xs_te), T_te, {"alpha": float(model[-1].alpha_)}


def _neural(method: str):
    def fit_fold(Xs_tr, Xt_tr, Xs_te, Xt_te, loss, seed, kw):
        T_tr, T_te = _target_space(Xt_tr, Xt_te, kw)
        predict, info = fit_neural(Xs_tr, T_tr, method, loss=loss, seed=seed, **kw)
        return predict(Xs_te), T_te, info

    return fit_fold


AUTO_CANDIDATES = ("ridge", "cca", "mlp:contrastive")


def _auto(Xs_tr, Xt_tr, Xs_te, Xt_te, loss, seed, kw):
    """The mapping chosen inside the training fold: each candidate ("method" or
    "method:loss", kw ``candidates``; its options under kw[method]) is scored by the mean
    reciprocal rank of an inner k-fold (kw ``inner_folds``, 3) of the training rows, and the
    best is refitted on all of them. Nothing of the outer test rows is seen."""
    from trimodal.crossmodal.retrieval import cosine_similarity_matrix, true_ranks

    cands = [str(c) for c in kw.get("candidates", AUTO_CANDIDATES)]
    inner = auto_inner_splits(len(Xs_tr), seed, kw)
    scores = {}
    for cand in cands:
        method, _, cand_loss = cand.partition(":")
        spec, opts = CROSSMODAL_METHODS[method], candidate_options(method, kw)
        mrr = []
        for i, (a, b) in enumerate(inner):
            Q, K, _ = spec.fit_fold(
                Xs_tr[a], Xt_tr[a], Xs_tr[b], Xt_tr[b], cand_loss or "mse", seed + i, opts
            )
            mrr.append(float(np.mean(1.0 / true_ranks(cosine_similarity_matrix(Q, K)))))
        scores[cand] = float(np.mean(mrr))
    best = max(cands, key=lambda c: scores[c])  # first of equals: the candidates' order
    method, _, cand_loss = best.partition(":")
    Q, K, info = CROSSMODAL_METHODS[method].fit_fold(
        Xs_tr, Xt_tr, Xs_te, Xt_te, cand_loss or "mse", seed, candidate_options(method, kw)
    )
    return Q, K, {"chose": best, "inner_mrr": scores[best], **info}


def candidate_options(method: str, kw: dict) -> dict:
    """A candidate's options under `auto`: its own (kw[method]) over the run's `device`."""
    return {**({"device": kw["device"]} if "device" in kw else {}), **dict(kw.get(method, {}))}


def auto_inner_splits(n: int, seed: int, kw: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """`auto`'s inner folds of its n training rows: the package's fold builder
    (:func:`trimodal.learn.cv.make_folds`, grouped when the rows have groups: segments of one
    video never straddle an inner split), on the ids and groups the CV hands it (kw
    ``inner_rows``; rows of their own without)."""
    from trimodal.learn.cv import make_folds

    ids, groups = kw.get("inner_rows") or ([f"r{i}" for i in range(n)], None)
    fset = make_folds(ids, None, groups, int(kw.get("inner_folds", 3)), seed)
    return [(tr, te) for _, tr, te in fset.splits(ids)]


register_crossmodal_method("ridge", _ridge)
register_crossmodal_method("cca", _cca)
register_crossmodal_method("mlp", _neural("mlp"), losses=LOSSES, early_stops=True, uses_gpu=True)
register_crossmodal_method(
    "autoencoder", _neural("autoencoder"), losses=LOSSES, early_stops=True, uses_gpu=True
)
register_crossmodal_method("auto", _auto, inner_cv=True)


def methods_use_gpu(spec: dict) -> bool:
    """Whether a cross-modal job with this config (``methods``, and ``auto``'s candidates)
    trains a network, which goes to a GPU when the device picks one."""
    names = [str(m) for m in spec.get("methods") or []]
    if "auto" in names:
        auto = (spec.get("params") or {}).get("auto") or {}
        names += [str(c).partition(":")[0] for c in auto.get("candidates", AUTO_CANDIDATES)]
    return any(CROSSMODAL_METHODS[m].uses_gpu for m in names if m in CROSSMODAL_METHODS)


# --------------------------------------------------------------------------- config check


def crossmodal_problems(
    cfg: dict, *, label_set: Callable[..., list[str]], feature_set: Callable[..., list[str]]
) -> list[str]:
    """The problems of the ``crossmodal`` section the schema cannot see (its methods, losses
    and ranking choices are the schema's enums, filled from these registries): its label set
    (`label_set(path, name)`) and each pair's sides, which must be pooled vectors
    (`feature_set(path, fs, why_not_text)`)."""
    from trimodal.plumbing.config_problems import as_dict, as_list, key_path

    out = []
    if "label_set" in cfg:
        out += label_set(key_path("crossmodal", "label_set"), cfg["label_set"])
    why = "cross-modal mapping needs pooled vectors (embed the text first)"
    for i, pair in enumerate(as_list(cfg.get("pairs"))):
        for side in ("source", "target"):
            if side in as_dict(pair):
                out += feature_set(key_path("crossmodal", "pairs", i, side), pair[side], why)
    return out
