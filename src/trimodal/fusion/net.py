"""Intermediate fusion: one small network branch per modality, concatenated, one classifier head.

Wrapped as a scikit-learn classifier over the concatenated matrix (known column slices per
block), so run_cv evaluates it exactly like any other model: per-block standardisation, the inner
validation split and early stopping all happen inside `fit`, on the outer training rows only.
Modality dropout zeroes a whole branch for random training rows, so the head cannot lean on one
modality alone (and tolerates a missing one).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from trimodal.learn.training import train_early_stopping, validation_split
from trimodal.plumbing.device import pick_device


class FusionNet(nn.Module):
    """Branch per block: Linear-ReLU-Dropout to `width`; concatenation; Linear head."""

    def __init__(
        self,
        dims: list[int],
        n_classes: int,
        width: int = 32,
        dropout: float = 0.2,
        modality_dropout: float = 0.0,
    ):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Dropout(dropout)) for d in dims
        )
        self.head = nn.Linear(width * len(dims), n_classes)
        self.modality_dropout = modality_dropout

    def forward(self, blocks: list[torch.Tensor]) -> torch.Tensor:
        h = torch.stack([branch(x) for branch, x in zip(self.branches, blocks, strict=True)], 1)
        if self.training and self.modality_dropout > 0:
            keep = torch.rand(h.shape[0], h.shape[1], device=h.device) >= self.modality_dropout
            # never drop every modality of a row: keep one at random instead
            none = ~keep.any(dim=1)
            if none.any():
                pick = torch.randint(h.shape[1], (int(none.sum()),), device=h.device)
                keep[none.nonzero(as_tuple=True)[0], pick] = True
            h = h * keep.unsqueeze(-1).to(h.dtype)
        return self.head(h.flatten(1))


def _resolve_device(device: str) -> torch.device:
    """Resolve "auto" with trimodal.plumbing.device.pick_device; "cuda" without a GPU falls back to cpu."""
    device = pick_device(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn("cuda requested but not available; using cpu", stacklevel=3)
        return torch.device("cpu")
    return torch.device(device)


class IntermediateFusionClassifier(ClassifierMixin, BaseEstimator):
    """scikit-learn estimator around :class:`FusionNet`.

    block_slices: {name: (start, stop)} column ranges of each modality in X (see
    trimodal.fusion.evaluate.block_slices). Training: AdamW on class-weighted cross-entropy, inner
    stratified validation split (`val_fraction`), early stopping on validation loss with
    `patience`, best weights restored (under the split protocol of trimodal.learn.cv: the official
    ``val`` videos instead of the inner split). Fixed seeds make a fit reproducible on CPU.
    """

    early_stops = True  # the split protocol hands it the val rows (trimodal.learn.training)

    def __init__(
        self,
        block_slices: dict[str, tuple[int, int]] | None = None,
        width: int = 32,
        dropout: float = 0.2,
        modality_dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 32,
        max_epochs: int = 200,
        patience: int = 15,
        val_fraction: float = 0.2,
        class_weight: str | None = "balanced",
        seed: int = 0,
        device: str = "cpu",
    ):
        self.block_slices = block_slices
        self.width = width
        self.dropout = dropout
        self.modality_dropout = modality_dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.seed = seed
        self.device = device

    def _slices(self, n_cols: int) -> list[tuple[int, int]]:
        return list(self.block_slices.values()) if self.block_slices else [(0, n_cols)]

    def _blocks(self, X: np.ndarray) -> list[torch.Tensor]:
        Z = (np.asarray(X, dtype=np.float32) - self.mean_) / self.scale_
        return [
            torch.from_numpy(np.ascontiguousarray(Z[:, a:b])).to(self.device_)
            for a, b in self.slices_
        ]

    def _inner_split(self, idx, yi, counts) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) rows for early stopping: a stratified split when every class can
        sit on both sides; otherwise (tiny classes) no split, the training rows doubling as the
        stopping set (``early_stopping_`` says which, the fit never fails on a small class)."""
        n, k = len(idx), len(counts)
        n_val = int(np.ceil(n * self.val_fraction))
        if counts.min() >= 2 and k <= n_val <= n - k:
            self.early_stopping_ = "validation split"
            tr, va = train_test_split(idx, test_size=n_val, stratify=yi, random_state=self.seed)
            return tr, va
        self.early_stopping_ = (
            f"training loss (no validation split: smallest class has {counts.min()} row(s), "
            f"{k} classes in {n} rows)"
        )
        return idx, idx

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        if self.block_slices and max(b for _, b in self.block_slices.values()) != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} columns but block_slices end at "
                f"{max(b for _, b in self.block_slices.values())}"
            )
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.device_ = _resolve_device(self.device)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        yi = enc.transform(y)
        self.slices_ = self._slices(X.shape[1])
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ < 1e-8] = 1.0

        idx = np.arange(len(yi))
        counts = np.bincount(yi, minlength=len(self.classes_))
        self.early_stopping_ = "the protocol's validation rows"  # unless _inner_split says
        tr, va = validation_split(len(yi), lambda: self._inner_split(idx, yi, counts))
        trained = np.unique(yi[tr])
        if len(trained) < len(counts):  # the split protocol: a class with val videos only
            va = va[np.isin(yi[va], trained)]  # nothing to stop on for a class never trained
            if not len(va):
                va = tr
                self.early_stopping_ = "training loss (no validation row of a trained class)"
        weight = None
        if self.class_weight is not None:  # "balanced" or {class label: weight}
            cw = self.class_weight
            if isinstance(cw, dict):  # keyed by the labels; the loss indexes encoded classes
                cw = {int(enc.transform([c])[0]): v for c, v in cw.items() if c in self.classes_}
                cw = {c: v for c, v in cw.items() if c in trained}
            w = np.ones(len(counts))  # a class absent from the training rows is never a target
            w[trained] = compute_class_weight(cw, classes=trained, y=yi[tr])
            weight = torch.tensor(w, dtype=torch.float32, device=self.device_)
        loss_fn = nn.CrossEntropyLoss(weight=weight)

        blocks = self._blocks(X)
        target = torch.from_numpy(yi).long().to(self.device_)
        self.model_ = FusionNet(
            [b - a for a, b in self.slices_],
            len(self.classes_),
            self.width,
            self.dropout,
            self.modality_dropout,
        ).to(self.device_)
        opt = torch.optim.AdamW(
            self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        va_t = torch.from_numpy(va).to(self.device_)

        def train_epoch(epoch: int) -> None:
            order = rng.permutation(tr)
            for start in range(0, len(order), self.batch_size):
                bi = torch.from_numpy(order[start : start + self.batch_size]).to(self.device_)
                opt.zero_grad()
                loss = loss_fn(self.model_([b[bi] for b in blocks]), target[bi])
                loss.backward()
                opt.step()

        def val_loss() -> float:
            return float(loss_fn(self.model_([b[va_t] for b in blocks]), target[va_t]))

        run = train_early_stopping(
            self.model_, train_epoch, val_loss, self.max_epochs, self.patience, min_delta=1e-4
        )
        self.history_ = run.val_losses
        self.n_epochs_ = len(self.history_)
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        with torch.no_grad():
            logits = self.model_(self._blocks(X))
        return torch.softmax(logits, dim=1).cpu().numpy().astype(np.float64)

    def predict(self, X):
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
