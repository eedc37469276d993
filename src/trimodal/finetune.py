"""Fine-tuned transformer text classifier, cross-validated, with out-of-fold probabilities.

The original study fine-tuned DistilBERT for sequence classification (60 % on one split). Here
any Hugging Face encoder works: a hub id online, or a local folder offline (the packaged
all-MiniLM-L6-v2 is a BERT encoder; ``AutoModelForSequenceClassification`` adds a fresh head).
Each fold (the label set's, from :mod:`trimodal.cv`, like every other evaluation) trains a fresh
model on its training rows, early-stops on the loss of an inner validation split taken from those
rows, and predicts only its test rows, so the returned probabilities are out-of-fold and late
fusion can stack them without leakage.
"""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np

from trimodal.training import train_early_stopping


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


def _evaluate(model, enc, rows, y_int, batch_size, tokenizer, device):
    """(mean loss, probabilities) of ``model`` on ``rows``."""
    import torch

    model.eval()
    losses, probs = [], []
    with torch.no_grad():
        for feats in _batches(enc, rows, batch_size, tokenizer, device, y_int):
            out = model(**feats)
            losses.append(out.loss.item() * len(feats["labels"]))
            probs.append(torch.softmax(out.logits.float(), dim=-1).cpu().numpy())
    return sum(losses) / max(1, len(rows)), np.concatenate(probs)


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
        return _evaluate(model, enc, val_idx, y_int, batch_size, tokenizer, device)[0]

    validate = val_loss if len(val_idx) else None
    return train_early_stopping(model, train_epoch, validate, epochs, patience)


def finetune_cv(
    texts,
    y,
    model_spec: str,
    folds: int = 5,
    seed: int = 0,
    epochs: int = 4,
    lr: float = 5e-5,
    batch_size: int = 16,
    val_fraction: float = 0.15,
    patience: int = 2,
    device: str = "cpu",
    max_length: int = 128,
    weight_decay: float = 0.01,
    warmup_fraction: float = 0.1,
    num_threads: int | None = None,
    fold=None,
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Cross-validated fine-tuning: ``(oof_proba (n, k), classes, per-fold info)``.

    ``fold``: the test fold of each row (the label set's folds, :mod:`trimodal.cv`); None makes
    ``folds`` folds on these rows with :func:`trimodal.cv.make_folds`.

    ``oof_proba[i]`` comes from the model of the fold whose test part holds row ``i``; each fold
    info dict records ``fold``, ``train_idx`` (rows it trained on), ``val_idx`` (its early-stopping
    rows, also unseen by the test), ``test_idx``, ``best_epoch``, ``val_losses``,
    ``train_losses`` and ``test_accuracy``. Texts longer than ``max_length`` tokens are truncated
    (the count is in ``n_truncated``): a fine-tuned classifier reads one window.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trimodal.cv import check_evaluable, make_folds, splits_from_assignment
    from trimodal.models import resolve_model

    texts = [str(t) for t in texts]
    y = np.asarray(y)
    if len(texts) != len(y):
        raise ValueError(f"{len(texts)} texts but {len(y)} labels")
    classes, y_int = np.unique(y, return_inverse=True)
    k = len(classes)
    if k < 2:
        raise ValueError("need at least two classes")
    if fold is None:
        rows = [str(i) for i in range(len(y))]
        fold = make_folds(rows, y, None, folds, seed).of(rows)
    assign = np.asarray(fold)
    if len(assign) != len(y):
        raise ValueError(f"{len(assign)} fold numbers for {len(y)} texts")
    check_evaluable(y, assign)
    path = resolve_model(model_spec)
    tokenizer = AutoTokenizer.from_pretrained(path)
    full = tokenizer(texts, truncation=False)["input_ids"]
    n_truncated = sum(len(ids) > max_length for ids in full)
    enc = dict(tokenizer(texts, truncation=True, max_length=max_length))

    oof = np.full((len(texts), k), np.nan)
    info: list[dict] = []
    with _deterministic(seed, num_threads):
        for fold, train_all, test_idx in splits_from_assignment(assign):
            torch.manual_seed(seed * 1000 + fold)
            t0 = time.perf_counter()
            train_idx, val_idx = _inner_split(train_all, y_int, val_fraction, k, seed + fold)
            model = AutoModelForSequenceClassification.from_pretrained(
                path,
                num_labels=k,
                id2label=dict(enumerate(map(str, classes))),
                # a checkpoint that already has a classification head of another size gets a
                # fresh one, as an encoder without a head does
                ignore_mismatched_sizes=True,
            ).to(device)
            run = _train(
                model, enc, y_int, train_idx, val_idx, tokenizer, device, seed * 1000 + fold,
                epochs=epochs, patience=patience, lr=lr, weight_decay=weight_decay,
                batch_size=batch_size, warmup_fraction=warmup_fraction,
            )  # fmt: skip
            _, proba = _evaluate(model, enc, test_idx, y_int, batch_size, tokenizer, device)
            oof[test_idx] = proba
            info.append(
                {
                    "fold": fold,
                    "train_idx": np.sort(train_idx),
                    "val_idx": np.sort(val_idx),
                    "test_idx": np.sort(test_idx),
                    "best_epoch": run.best_epoch,
                    "val_losses": run.val_losses,
                    "train_losses": run.train_losses,
                    "test_accuracy": float((proba.argmax(1) == y_int[test_idx]).mean()),
                    "n_truncated": n_truncated,
                    "fit_time_s": time.perf_counter() - t0,
                }
            )
            del model
    return oof, classes, info
