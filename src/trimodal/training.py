"""The one torch training loop with early stopping, shared by every network the package trains.

Cross-modal maps, intermediate fusion and transformer fine-tuning differ only in what one epoch
of training and one validation pass are; the epoch loop, the best weights kept in memory, the
patience count and the restore at the end live here once, so the three cannot drift apart.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


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
