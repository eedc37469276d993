"""The one early-stopping loop (trimodal.learn.training) and the three trainers built on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

from trimodal.learn.training import train_early_stopping


def _scripted(losses):
    """A linear layer whose weight is set to the epoch number, and a validation loss that
    follows ``losses``: the weight after a run tells which epoch's state was restored."""
    layer = torch.nn.Linear(1, 1)
    seen = {"train_modes": [], "grad_in_val": []}

    def train_epoch(epoch):
        seen["train_modes"].append(layer.training)
        with torch.no_grad():
            layer.weight.fill_(float(epoch))  # in place: a kept state must be a copy
        return 10.0 - epoch

    def val_loss():
        seen["grad_in_val"].append(torch.is_grad_enabled() or layer.training)
        return losses[len(seen["grad_in_val"]) - 1]

    return layer, train_epoch, val_loss, seen


def test_stops_after_patience_epochs_without_improvement_and_restores_the_best():
    losses = [3.0, 2.0, 1.0, 1.5, 1.2, 1.1, 0.1, 0.0]
    layer, train_epoch, val_loss, seen = _scripted(losses)
    run = train_early_stopping(layer, train_epoch, val_loss, max_epochs=8, patience=3)
    assert run.epochs_run == 6 and run.best_epoch == 2 and run.best_val == 1.0
    assert run.val_losses == losses[:6] and run.train_losses == [10.0 - e for e in range(6)]
    assert layer.weight.item() == 2.0  # epoch 2's weights, not the last epoch's (5)
    assert not layer.training
    assert all(seen["train_modes"]) and not any(seen["grad_in_val"])


def test_runs_max_epochs_while_it_keeps_improving():
    layer, train_epoch, val_loss, _ = _scripted([5.0 - e for e in range(10)])
    run = train_early_stopping(layer, train_epoch, val_loss, max_epochs=7, patience=1)
    assert run.epochs_run == 7 and run.best_epoch == 6 and layer.weight.item() == 6.0


def test_an_improvement_below_min_delta_does_not_count():
    layer, train_epoch, val_loss, _ = _scripted([1.0, 0.99995, 0.9999, 0.5])
    run = train_early_stopping(layer, train_epoch, val_loss, 4, patience=2, min_delta=1e-4)
    assert run.epochs_run == 3 and run.best_epoch == 0 and layer.weight.item() == 0.0


def test_without_validation_every_epoch_runs_and_the_last_is_kept():
    layer, train_epoch, _, _ = _scripted([])
    run = train_early_stopping(layer, train_epoch, None, max_epochs=4, patience=1)
    assert run.epochs_run == 4 and run.best_epoch == 3 and run.val_losses == []
    assert layer.weight.item() == 3.0 and not layer.training


def test_every_module_of_a_group_is_restored_together():
    a, b = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)

    def train_epoch(epoch):
        with torch.no_grad():
            a.bias.fill_(float(epoch))
            b.bias.fill_(-float(epoch))

    losses = iter([2.0, 1.0, 3.0, 4.0])
    run = train_early_stopping([a, b], train_epoch, lambda: next(losses), 4, patience=2)
    assert run.best_epoch == 1 and (a.bias.item(), b.bias.item()) == (1.0, -1.0)
    assert run.train_losses == []  # nothing returned, nothing recorded


# --------------------------------------------------------------------------- the three callers


def _regression(seed=3, n=80):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(n, 12))
    Xt = Xs @ rng.normal(size=(12, 8)) + 0.5 * rng.normal(size=(n, 8))
    return Xs, Xt


def test_fit_neural_keeps_the_weights_of_its_reported_best_epoch():
    from trimodal.crossmodal.methods import fit_neural

    Xs, Xt = _regression()
    kw = dict(max_epochs=200, patience=3, lr=3e-2, hidden=[256], val_size=0.15)
    predict, info = fit_neural(Xs, Xt, "mlp", loss="mse", seed=1, **kw)
    assert info["epochs"] < 200, "the setting overfits fast: it should stop early"
    assert info["epochs"] == info["best_epoch"] + 1 + kw["patience"]
    # the validation rows fit_neural held out, scored with the returned model
    _, va = train_test_split(np.arange(len(Xs)), test_size=0.15, random_state=1)
    val = float(np.mean((predict(Xs[va]) - Xt[va].astype(np.float32)) ** 2))
    assert val == pytest.approx(info["val_loss"], rel=1e-5)
    predict2, info2 = fit_neural(Xs, Xt, "mlp", loss="mse", seed=1, **kw)
    assert info2 == info and np.array_equal(predict2(Xs), predict(Xs))


def test_fit_neural_autoencoder_runs_max_epochs_while_improving():
    from trimodal.crossmodal.methods import fit_neural

    Xs, Xt = _regression()
    _, info = fit_neural(Xs, Xt, "autoencoder", seed=1, recon_weight=0.5, latent=8, max_epochs=12)
    assert info["epochs"] == 12 and info["best_epoch"] == 11


def test_intermediate_fusion_keeps_the_weights_of_its_best_epoch():
    from trimodal.fusion.net import IntermediateFusionClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 10))
    y = np.array(list("abc") * 30)
    X[:, 0] += (y == "a") * 1.5
    X[:, 5] += y == "b"
    clf = IntermediateFusionClassifier(
        block_slices={"a": (0, 5), "b": (5, 10)},
        class_weight=None,
        max_epochs=300,
        patience=2,
        lr=1e-2,
        seed=2,
    ).fit(X, y)
    assert clf.n_epochs_ == len(clf.history_) < 300
    # the validation rows fit held out, scored with the restored model
    yi = np.searchsorted(clf.classes_, y)
    _, va = train_test_split(np.arange(len(y)), test_size=0.2, stratify=yi, random_state=2)
    val = float(-np.log(clf.predict_proba(X[va])[np.arange(len(va)), yi[va]]).mean())
    assert any(val == pytest.approx(h, rel=1e-5) for h in clf.history_[:-2])
    assert val <= min(clf.history_) + 1e-4  # the best, up to the loop's min_delta


def test_finetune_stops_by_patience_random_weights(tmp_path):
    from tests.learn.test_finetune import _data, _tiny_bert
    from trimodal.learn.finetune import FinetunedTextClassifier

    texts, y = _data()
    path = _tiny_bert(tmp_path)
    kw = dict(epochs=5, lr=3e-3, batch_size=8, patience=2, num_threads=1, device="cpu")
    for seed in (2, 3, 4):
        est = FinetunedTextClassifier(path, random_state=seed, **kw).fit(texts, y)
        n = len(est.train_losses_)
        assert len(est.val_losses_) == n and 1 <= n <= 5
        assert est.best_epoch_ == int(np.argmin(est.val_losses_))
        if n < 5:  # stopped early: exactly `patience` epochs after the best
            assert n == est.best_epoch_ + 1 + kw["patience"]
    est = FinetunedTextClassifier(path, **{**kw, "val_fraction": 0, "epochs": 2}).fit(texts, y)
    assert est.best_epoch_ == 1 and est.val_losses_ == [] and len(est.val_idx_) == 0
