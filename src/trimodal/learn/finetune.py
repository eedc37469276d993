"""A fine-tuned transformer text classifier, as a scikit-learn estimator.

The original study fine-tuned DistilBERT for sequence classification (60 % on one split). Here
any Hugging Face encoder works: a hub id online, or a local folder offline (the packaged
all-MiniLM-L6-v2 is a BERT encoder; ``AutoModelForSequenceClassification`` adds a fresh head).
Cross-validation (:func:`trimodal.learn.classify.run_cv`, on the label set's folds like every other
evaluation) fits a fresh model per fold on its training rows, and it early-stops on the loss of
an inner validation split taken from those rows, so the probabilities are out-of-fold and late
fusion can stack them without leakage.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted

from trimodal.learn.training import train_early_stopping, validation_split
from trimodal.plumbing.device import pick_device


@contextlib.contextmanager
def _deterministic(seed: int, num_threads: int | None):
    """Seeded RNGs and deterministic kernels for the duration of a run; restores the globals."""
    import torch

    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_threads = torch.get_num_threads()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


def _adamw(params, lr: float, weight_decay: float):
    """AdamW, fused where the build supports it: on a shared CPU the default step was the
    bottleneck (about 10x slower than the forward and backward passes of MiniLM)."""
    import torch

    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _batches(enc: dict, rows: np.ndarray, batch_size: int, tokenizer, device, labels=None):
    for i in range(0, len(rows), batch_size):
        b = rows[i : i + batch_size]
        feats = tokenizer.pad(
            {k: [enc[k][j] for j in b] for k in enc}, padding=True, return_tensors="pt"
        )
        feats = {k: v.to(device) for k, v in feats.items()}
        if labels is not None:
            import torch

            feats["labels"] = torch.as_tensor(labels[b], dtype=torch.long, device=device)
        yield feats


def _val_loss(model, enc, rows, y_int, batch_size, tokenizer, device) -> float:
    """The mean loss of ``model`` on ``rows`` (the early-stopping split)."""
    losses = []
    for feats in _batches(enc, rows, batch_size, tokenizer, device, y_int):
        losses.append(model(**feats).loss.item() * len(feats["labels"]))
    return sum(losses) / max(1, len(rows))


def _inner_split(train_idx, y_int, val_fraction, k, seed):
    from sklearn.model_selection import train_test_split

    n_val = max(k, int(round(val_fraction * len(train_idx))))
    if val_fraction <= 0 or n_val >= len(train_idx) - k:
        return train_idx, train_idx[:0]
    counts = np.bincount(y_int[train_idx], minlength=k)
    strat = y_int[train_idx] if counts[counts > 0].min() >= 2 else None
    return train_test_split(train_idx, test_size=n_val, random_state=seed, stratify=strat)


def _train(
    model, enc, y_int, train_idx, val_idx, tokenizer, device, seed: int, *,
    epochs: int, patience: int, lr: float, weight_decay: float, batch_size: int,
    warmup_fraction: float,
):  # fmt: skip
    """Fine-tune ``model`` on ``train_idx`` (linear warm-up schedule, clipped gradients),
    early-stopping on the loss of ``val_idx``; without validation rows every epoch runs and the
    last one is kept."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    opt = _adamw(model.parameters(), lr, weight_decay)
    steps = epochs * math.ceil(len(train_idx) / batch_size)
    sched = get_linear_schedule_with_warmup(opt, int(warmup_fraction * steps), steps)
    gen = np.random.default_rng(seed)

    def train_epoch(epoch: int) -> float:
        order = gen.permutation(train_idx)
        total = 0.0
        for feats in _batches(enc, order, batch_size, tokenizer, device, y_int):
            loss = model(**feats).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            total += loss.item() * len(feats["labels"])
        return total / len(train_idx)

    def val_loss() -> float:
        return _val_loss(model, enc, val_idx, y_int, batch_size, tokenizer, device)

    validate = val_loss if len(val_idx) else None
    return train_early_stopping(model, train_epoch, validate, epochs, patience)


@dataclass(repr=False, eq=False)  # sklearn's repr and identity
class FinetunedTextClassifier(ClassifierMixin, BaseEstimator):
    """A Hugging Face encoder with a fresh classification head, fine-tuned on raw texts.

    An sklearn estimator (registered as ``finetune`` in :mod:`trimodal.learn.classifiers`), so
    cross-validation gives it the label set's folds, scores it against the majority baseline and
    stores its out-of-fold probabilities like any other classifier. ``fit`` trains on its rows,
    early-stopping on the loss of an inner validation split taken from them (``val_fraction``;
    0 runs every epoch and keeps the last). Texts longer than ``max_length`` tokens are
    truncated (the count is ``n_truncated_``): a fine-tuned classifier reads one window.
    ``device`` "auto" takes a GPU when there is one (:func:`trimodal.plumbing.device.pick_device`).
    After ``fit``: ``train_idx_`` / ``val_idx_`` (rows trained and early-stopped on),
    ``best_epoch_``, ``train_losses_``, ``val_losses_``. Under the split protocol
    (trimodal.learn.cv) it early-stops on the official ``val`` videos instead.
    """

    early_stops = True  # the split protocol hands it the val rows (trimodal.learn.training)

    # the fields are the estimator's parameters (get_params reads the generated __init__)
    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    epochs: int = 4
    lr: float = 5e-5
    batch_size: int = 16
    val_fraction: float = 0.15
    patience: int = 2
    device: str = "auto"
    max_length: int = 128
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    num_threads: int | None = None
    random_state: int = 0

    def _encode(self, X) -> dict:
        texts = [str(t) for t in np.asarray(X, dtype=object).ravel()]
        return dict(self.tokenizer_(texts, truncation=True, max_length=self.max_length))

    def fit(self, X, y):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from trimodal.plumbing.models import resolve_model

        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        y = np.asarray(y)
        check_classification_targets(y)
        # rejects empty, sparse and complex input; texts may be any objects (read with str())
        X = check_array(X, dtype=None, ensure_2d=False, ensure_all_finite=False).astype(object)
        if X.ndim != 1:
            raise ValueError(
                f"fine-tuning reads raw text (one string per row), got an array of shape "
                f"{X.shape}: use a ':text' feature set"
            )
        if len(X) != len(y):
            raise ValueError(f"{len(X)} texts but {len(y)} labels")
        self.classes_, y_int = np.unique(y, return_inverse=True)
        k = len(self.classes_)
        if k < 2:
            raise ValueError("need at least two classes")
        path = resolve_model(self.model)
        self.tokenizer_ = AutoTokenizer.from_pretrained(path)
        full = self.tokenizer_([str(t) for t in X], truncation=False)["input_ids"]
        self.n_truncated_ = sum(len(ids) > self.max_length for ids in full)
        enc = self._encode(X)
        self.device_ = pick_device(self.device)
        seed = int(self.random_state)
        with _deterministic(seed, self.num_threads):
            train_idx, val_idx = validation_split(
                len(y),
                lambda: _inner_split(np.arange(len(y)), y_int, self.val_fraction, k, seed),
            )
            self.model_ = AutoModelForSequenceClassification.from_pretrained(
                path,
                num_labels=k,
                id2label=dict(enumerate(map(str, self.classes_))),
                # a checkpoint that already has a classification head of another size gets a
                # fresh one, as an encoder without a head does
                ignore_mismatched_sizes=True,
            ).to(self.device_)
            run = _train(
                self.model_, enc, y_int, train_idx, val_idx, self.tokenizer_, self.device_, seed,
                epochs=self.epochs, patience=self.patience, lr=self.lr,
                weight_decay=self.weight_decay, batch_size=self.batch_size,
                warmup_fraction=self.warmup_fraction,
            )  # fmt: skip
        self.train_idx_, self.val_idx_ = np.sort(train_idx), np.sort(val_idx)
        self.best_epoch_ = run.best_epoch
        self.train_losses_, self.val_losses_ = run.train_losses, run.val_losses
        return self

    def predict_proba(self, X) -> np.ndarray:
        import torch

        check_is_fitted(self)
        enc = self._encode(X)
        rows = np.arange(len(enc["input_ids"]))
        self.model_.eval()
        probs = [np.zeros((0, len(self.classes_)))]
        with _deterministic(int(self.random_state), self.num_threads), torch.no_grad():
            for feats in _batches(enc, rows, self.batch_size, self.tokenizer_, self.device_):
                logits = self.model_(**feats).logits.float()
                probs.append(torch.softmax(logits, dim=-1).cpu().numpy())
        return np.concatenate(probs)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def model_provenance(self) -> dict:
        """What was fine-tuned (a provenance entry beside the text store's)."""
        from trimodal.plumbing.models import describe_model

        params = {k: v for k, v in self.get_params().items() if k != "model"}
        return {
            "store": "",
            "extractor": "finetune",
            "kind": "finetune",
            "model": self.model,
            "weights_sha256": describe_model(self.model).get("model_fingerprint", ""),
            "params": params,
            "code": "",
            "packages": {},
        }
