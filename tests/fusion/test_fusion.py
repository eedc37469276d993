"""Early, late and intermediate fusion on synthetic modalities with a known signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import make_classification

from trimodal.fusion.evaluate import (
    block_scaler,
    block_slices,
    early_fusion_matrix,
    early_fusion_pipeline,
    late_fusion_cv,
    late_fusion_from_results,
    late_fusion_leaky,
    stacking_estimator,
)
from trimodal.fusion.net import FusionNet, IntermediateFusionClassifier
from trimodal.learn.classify import run_cv
from trimodal.learn.pipeline import make_classifier


def three_modalities(n=240, seed=0):
    """make_classification with 9 informative columns split 3 per "modality" (plus noise each),
    so every block holds part of the signal and only their union holds all of it."""
    X, yi = make_classification(
        n_samples=n,
        n_features=21,
        n_informative=9,
        n_redundant=0,
        n_repeated=0,
        n_classes=4,
        n_clusters_per_class=1,
        class_sep=1.6,
        shuffle=False,
        random_state=seed,
    )
    y = np.array(["a", "b", "c", "d"], dtype=object)[yi]
    ids = np.array([f"v{i:03d}" for i in range(n)], dtype=object)
    cols = {
        "text": [0, 1, 2, 9, 10, 11, 12],
        "audio": [3, 4, 5, 13, 14, 15, 16],
        "video": [6, 7, 8, 17, 18, 19, 20],
    }
    blocks = {m: (X[:, c] * (10.0**i), ids) for i, (m, c) in enumerate(cols.items())}
    return blocks, y, ids


@pytest.fixture(scope="module")
def synth():
    return three_modalities()


def test_early_fusion_matrix_intersects_ids_in_first_block_order():
    a = (np.array([[1.0], [2.0], [3.0]]), np.array(["x", "y", "z"], dtype=object))
    b = (np.array([[10.0, 11.0], [30.0, 31.0]]), np.array(["z", "x"], dtype=object))
    X, ids = early_fusion_matrix({"a": a, "b": b})
    assert list(ids) == ["x", "z"]
    np.testing.assert_array_equal(X, [[1, 30, 31], [3, 10, 11]])
    assert block_slices({"a": a, "b": b}) == {"a": (0, 1), "b": (1, 3)}


def test_block_scaling_is_fitted_on_training_rows_only(synth):
    blocks, y, ids = synth
    X, _ = early_fusion_matrix(blocks)
    ct = block_scaler(block_slices(blocks)).fit(X[:100])
    np.testing.assert_allclose(
        ct.named_transformers_["video"].mean_, X[:100, 14:21].mean(0), rtol=1e-5
    )
    Z = ct.transform(X[:100])
    # each block standardised then weighted by 1/sqrt(d): equal total variance per block
    for a, b in block_slices(blocks).values():
        assert Z[:, a:b].var(axis=0).sum() == pytest.approx(1.0, rel=1e-6)


def test_early_fusion_beats_every_single_block(synth):
    blocks, y, ids = synth
    singles = {
        m: run_cv(X, y, ids, "logreg", folds=5, seed=0).summary()["balanced_accuracy_mean"]
        for m, (X, _) in blocks.items()
    }
    X, fids = early_fusion_matrix(blocks)
    pipe = early_fusion_pipeline("logreg", block_slices(blocks), seed=0)
    early = run_cv(X, y, fids, pipe, folds=5, seed=0, kind="early").summary()
    for m, v in singles.items():
        assert 0.4 < v < 0.8, (m, v)
        assert early["balanced_accuracy_mean"] > v + 0.1, (m, v, early)
    assert early["balanced_accuracy_mean"] > 0.8


def test_late_fusion_leakage_is_detected():
    """Pure noise, many dims, a base model that memorises: the leaky stack looks perfect, the
    out-of-fold stack stays at chance."""
    rng = np.random.default_rng(0)
    n = 120
    y = np.array(["a", "b", "c"], dtype=object)[np.arange(n) % 3]
    ids = np.array([f"v{i}" for i in range(n)], dtype=object)
    blocks = {m: rng.normal(size=(n, 300)) for m in ("text", "audio", "video")}
    base = make_classifier("logreg", C=1e4)
    leaky = late_fusion_leaky(blocks, y, ids, base, folds=5, seed=0).summary()
    oof = {}
    for m, X in blocks.items():
        r = run_cv(X, y, ids, base, folds=5, seed=0)
        oof[m] = (r.proba, r.classes, r.ids)
    honest = late_fusion_cv(oof, pd.Series(y, index=ids), folds=5, seed=0).summary()
    assert leaky["accuracy_mean"] > 0.9
    assert abs(honest["accuracy_mean"] - 1 / 3) < 0.15
    assert leaky["accuracy_mean"] - honest["accuracy_mean"] > 0.5


def test_late_fusion_methods_use_the_signal(synth):
    blocks, y, ids = synth
    results = [
        run_cv(X, y, ids, "logreg", folds=5, seed=0, feature_set=m, modality=m)
        for m, (X, _) in blocks.items()
    ]
    best_single = max(r.summary()["balanced_accuracy_mean"] for r in results)
    out = {m: late_fusion_from_results(results, method=m) for m in ("stack", "mean", "vote")}
    for m, r in out.items():
        assert r.kind == f"late-{m}" and len(r.ids) == len(y)
        assert r.summary()["balanced_accuracy_mean"] > 0.5, m
    assert out["stack"].summary()["balanced_accuracy_mean"] > best_single
    assert out["stack"].modality == "text+audio+video"


def test_nested_stacking_estimator_runs_in_cv(synth):
    blocks, y, ids = synth
    X, fids = early_fusion_matrix(blocks)
    slices = block_slices(blocks)
    est = stacking_estimator(slices, dict.fromkeys(slices, "logreg"), seed=0)
    r = run_cv(X, y, fids, est, folds=3, seed=0, kind="late:nested")
    assert r.summary()["balanced_accuracy_mean"] > 0.6


def test_intermediate_fusion_learns_and_is_reproducible(synth):
    torch.set_num_threads(1)
    blocks, y, ids = synth
    X, fids = early_fusion_matrix(blocks)
    est = IntermediateFusionClassifier(
        block_slices=block_slices(blocks), max_epochs=80, patience=10, width=16, seed=0
    )
    a = run_cv(X, y, fids, est, folds=3, seed=0, kind="intermediate")
    b = run_cv(X, y, fids, est, folds=3, seed=0, kind="intermediate")
    assert a.summary()["accuracy_mean"] > 0.6  # chance is 0.25
    np.testing.assert_array_equal(a.proba, b.proba)


def test_modality_dropout_zeroes_whole_branches():
    torch.manual_seed(0)
    net = FusionNet([3, 4], n_classes=2, width=5, dropout=0.0, modality_dropout=0.99)
    xs = [torch.ones(64, 3), torch.ones(64, 4)]
    captured = {}
    net.head.register_forward_hook(lambda m, inp, out: captured.update(h=inp[0]))
    net.train()
    net(xs)
    h = captured["h"].reshape(64, 2, 5)
    alive = (h.abs().sum(-1) > 0).sum(1)
    assert (alive <= 1).all()  # (almost) every branch dropped, but never all of one row
    net.eval()
    net(xs)
    assert (captured["h"].reshape(64, 2, 5).abs().sum(-1) > 0).float().mean() > 0.4


def test_intermediate_fusion_with_modality_dropout_fits(synth):
    torch.set_num_threads(1)
    blocks, y, ids = synth
    X, _ = early_fusion_matrix(blocks)
    est = IntermediateFusionClassifier(
        block_slices=block_slices(blocks), modality_dropout=0.3, max_epochs=40, patience=5, seed=1
    ).fit(X, y)
    p = est.predict_proba(X)
    assert p.shape == (len(y), 4) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert np.mean(est.predict(X) == y) > 0.5 and 1 <= est.n_epochs_ <= 40


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_intermediate_fusion_on_cuda(synth):
    blocks, y, ids = synth
    X, fids = early_fusion_matrix(blocks)
    est = IntermediateFusionClassifier(
        block_slices=block_slices(blocks), max_epochs=40, device="cuda"
    )
    r = run_cv(X, y, fids, est, folds=3)
    assert r.summary()["accuracy_mean"] > 0.6


# --------------------------------------------------------------------------- nested late-stack

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from trimodal.fusion.evaluate import NestedStacking  # noqa: E402


@parametrize_with_checks([NestedStacking(base="logreg", inner_folds=2)])
def test_nested_stacking_is_an_sklearn_estimator(estimator, check):
    check(estimator)


def test_nested_stacking_refits_the_base_models_on_the_training_rows_only():
    """Fitted on rows A, the stacker's base models have seen rows A only (no row a test fold
    scores can have shaped any model of that fold)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 6))
    y = np.array(["a", "b", "c"])[np.arange(60) % 3]
    est = NestedStacking({"one": (0, 3), "two": (3, 6)}, base="logreg", seed=0).fit(X[:40], y[:40])
    for _, base in est.stack_.named_estimators_.items():
        assert base[-1].n_features_in_ == 3  # its own block's columns
    assert est.stack_.final_estimator_.n_features_in_ == 2 * 3  # two blocks x three classes
    assert est.predict_proba(X[40:]).shape == (20, 3)


def test_the_workflow_device_reaches_the_intermediate_network(tmp_path, monkeypatch):
    """The fuse rule passes the config's `device` in the options; the network is built for
    that device. A device no default would pick (cuda:3; the network then trains on the CPU
    here, recording what it was asked for), so the test fails when the option is lost."""
    import trimodal.fusion.kinds as fk
    import trimodal.fusion.net as fn
    from tests.learn.test_cv import _stores
    from trimodal.fusion.kinds import FUSION_KINDS, FusionJob

    asked = []

    class Spy(fn.IntermediateFusionClassifier):
        def fit(self, X, y):
            asked.append(str(self.device))
            self.device = "cpu"  # no GPU here: train where it can
            return super().fit(X, y)

    monkeypatch.setattr(fn, "IntermediateFusionClassifier", Spy)
    monkeypatch.setattr(fk, "pick_device", lambda d: d)  # no GPU to resolve "cuda:3" against
    ids = [f"v{i:02d}" for i in range(24)]
    labels = tmp_path / "l.tsv"
    pd.DataFrame({"video_id": ids, "label": ["a", "b"] * 12}).to_csv(labels, sep="\t", index=False)
    feat_dir = _stores(tmp_path, ids)
    job = FusionJob(["aud:mean", "vid:mean"], str(labels), "l", str(feat_dir), "logreg", 2, 0,
                    options={"device": "cuda:3", "max_epochs": 2})  # fmt: skip
    assert FUSION_KINDS["intermediate"].run(job).evaluated
    assert asked and set(asked) == {"cuda:3"}
