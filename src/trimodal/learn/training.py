"""The one torch training loop with early stopping, shared by every network the package trains.

Cross-modal maps, intermediate fusion and transformer fine-tuning differ only in what one epoch
of training and one validation pass are; the epoch loop, the best weights kept in memory, the
patience count and the restore at the end live here once, so the three cannot drift apart.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("trimodal")

#: the split protocol's validation rows of the fit in progress (trimodal.learn.cv): a boolean mask
#: over the rows handed to ``fit``, or None (the learner takes its own inner split)
_VALIDATION: ContextVar[np.ndarray | None] = ContextVar("trimodal_validation", default=None)


@contextmanager
def given_validation(mask) -> Iterator[None]:
    """Within this block, a learner that early-stops validates on the rows where `mask` is
    true (the official ``val`` videos) and trains on the others."""
    token = _VALIDATION.set(np.asarray(mask, dtype=bool))
    try:
        yield
    finally:
        _VALIDATION.reset(token)


def validation_split(n: int, inner: Callable[[], tuple]) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows) of a fit on `n` rows: the protocol's validation rows
    when :func:`given_validation` set them, else ``inner()`` (the learner's own split)."""
    mask = _VALIDATION.get()
    if mask is None:
        return inner()
    if len(mask) != n:  # e.g. a resampler in front of the learner changed the rows
        log.warning(
            "the split protocol's %d validation mask rows do not match the %d rows fitted; "
            "early-stopping on an inner split instead",
            len(mask),
            n,
        )
        return inner()
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def uses_validation(estimator) -> bool:
    """Whether `estimator` (a pipeline, a resampler or a learner) ends in a learner that
    early-stops (class attribute ``early_stops``), so that the split protocol hands it the
    ``val`` rows; the others are fitted on the ``train`` rows only."""
    seen = 0
    while seen < 10:
        seen += 1
        if hasattr(estimator, "steps"):
            estimator = estimator.steps[-1][1]
        elif hasattr(estimator, "estimator") and not getattr(estimator, "early_stops", False):
            estimator = estimator.estimator
        else:
            break
    return bool(getattr(estimator, "early_stops", False))


@dataclass
class TrainResult:
    """What a run did: ``best_epoch`` is -1 when no epoch improved (its weights are the last
    epoch's then); ``best_val`` is inf without a finite validation loss."""

    best_epoch: int = -1
    best_val: float = math.inf
    epochs_run: int = 0
    train_losses: list = field(default_factory=list)
    val_losses: list = field(default_factory=list)


def train_early_stopping(
    modules,
    train_epoch: Callable[[int], float | None],
    val_loss: Callable[[], float] | None,
    max_epochs: int,
    patience: int,
    min_delta: float = 1e-6,
) -> TrainResult:
    """Run up to ``max_epochs`` epochs; stop after ``patience`` epochs without a validation loss
    below the best minus ``min_delta``; leave ``modules`` with the best epoch's weights, in eval
    mode.

    ``modules``: a torch module or a sequence of them (all are switched between train and eval
    mode and saved/restored together). ``train_epoch(epoch)`` runs one epoch and may return its
    training loss (recorded in ``train_losses``). ``val_loss()`` runs under ``torch.no_grad``
    with the modules in eval mode; None means no validation rows: every epoch runs and the last
    one's weights are kept.
    """
    import torch

    modules = list(modules) if isinstance(modules, Sequence) else [modules]
    result, best_state, since = TrainResult(), None, 0
    for epoch in range(max_epochs):
        for m in modules:
            m.train()
        loss = train_epoch(epoch)
        if loss is not None:
            result.train_losses.append(loss)
        result.epochs_run = epoch + 1
        for m in modules:
            m.eval()
        if val_loss is None:
            result.best_epoch = epoch
            continue
        with torch.no_grad():
            val = float(val_loss())
        result.val_losses.append(val)
        if val < result.best_val - min_delta:
            result.best_val, result.best_epoch, since = val, epoch, 0
            best_state = [copy.deepcopy(m.state_dict()) for m in modules]
        else:
            since += 1
            if since >= patience:
                break
    for m, state in zip(modules, best_state or [], strict=False):
        m.load_state_dict(state)
    for m in modules:
        m.eval()
    return result
