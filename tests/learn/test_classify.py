"""Classifiers and cross-validation: reproducibility, baseline, folds, h5 round trip, inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from tests.synthetic import embedding_like
from trimodal.extractors.base import Features
from trimodal.labels.label_sets import align, coverage
from trimodal.learn.classifiers import vector_classifiers
from trimodal.learn.classify import evaluate_feature_set, run_cv
from trimodal.learn.cv import make_folds
from trimodal.learn.results import CVResult
from trimodal.store.features import aggregate, write_video_file


@pytest.fixture(scope="module")
def data():
    X, yi = make_classification(
        n_samples=150,
        n_features=12,
        n_informative=6,
        n_redundant=0,
        n_classes=3,
        weights=[0.5, 0.3, 0.2],
        class_sep=1.5,
        random_state=0,
    )
    y = np.array(["cars", "music", "news"], dtype=object)[yi]
    ids = np.array([f"v{i:03d}" for i in range(len(y))], dtype=object)
    return X, y, ids


# multinomial NB is for counts / TF-IDF (tested on text below); hgb is slow, tested apart;
# finetune reads raw text (tests/learn/test_finetune.py)
@pytest.mark.parametrize("name", sorted(set(vector_classifiers()) - {"hgb", "multinomial_nb"}))
def test_every_classifier_beats_the_majority_baseline(data, name):
    X, y, ids = data
    r = run_cv(X, y, ids, name, folds=3, seed=0)
    s = r.summary()
    assert r.proba.shape == (len(y), 3)
    np.testing.assert_allclose(r.proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(r.classes) == ["cars", "music", "news"]
    assert s["balanced_accuracy_mean"] > s["baseline_balanced_accuracy_mean"] + 0.2, s


def test_hgb_runs(data):
    X, y, ids = data
    r = run_cv(X[:90], y[:90], ids[:90], "hgb", folds=3, max_iter=20)
    assert r.summary()["balanced_accuracy_mean"] > 0.5


def test_cv_is_reproducible_and_seed_changes_folds(data):
    X, y, ids = data
    a = run_cv(X, y, ids, "mlp", folds=5, seed=3)
    b = run_cv(X, y, ids, "mlp", folds=5, seed=3)
    np.testing.assert_array_equal(a.proba, b.proba)
    np.testing.assert_array_equal(a.y_pred, b.y_pred)
    np.testing.assert_array_equal(a.fold, b.fold)
    c = run_cv(X, y, ids, "mlp", folds=5, seed=4)
    assert (c.fold != a.fold).any()


def test_oof_covers_every_row_once_and_scores_match_predictions(data):
    X, y, ids = data
    r = run_cv(X, y, ids, "logreg", folds=4)
    assert sorted(np.bincount(r.fold)) == sorted(np.bincount(r.fold))
    assert set(r.fold) == {0, 1, 2, 3} and not np.isnan(r.proba).any()
    for f in range(4):
        m = r.fold == f
        assert r.scores["accuracy"][f] == pytest.approx(np.mean(r.y_pred[m] == y[m]))
    s = r.summary()
    assert s["accuracy_mean"] == pytest.approx(np.mean(r.scores["accuracy"]))
    assert s["accuracy_std"] == pytest.approx(np.std(r.scores["accuracy"]))


def test_baseline_is_majority_class_of_training_rows_on_same_folds(data):
    X, y, ids = data
    r = run_cv(X, y, ids, "logreg", folds=5, seed=1)
    for f, tr, te in make_folds(ids, y, None, 5, 1).splits(ids):
        np.testing.assert_array_equal(np.flatnonzero(r.fold == f), np.sort(te))
        values, counts = np.unique(y[tr], return_counts=True)
        majority = values[counts.argmax()]
        assert majority == "cars"
        assert r.scores["baseline_accuracy"][f] == pytest.approx(np.mean(y[te] == majority))
        assert r.scores["baseline_balanced_accuracy"][f] == pytest.approx(1 / 3)


def test_folds_reduced_when_smallest_class_is_small(data):
    X, y, ids = data
    keep = np.r_[np.flatnonzero(y != "news"), np.flatnonzero(y == "news")[:3]]
    r = run_cv(X[keep], y[keep], ids[keep], "logreg", folds=5)
    assert r.n_folds == 3 and r.folds_requested == 5
    assert "reduced from 5 to 3" in r.note
    one = np.r_[np.flatnonzero(y != "news"), np.flatnonzero(y == "news")[:1]]
    with pytest.raises(ValueError, match="smallest class"):
        run_cv(X[one], y[one], ids[one], "logreg")


def test_groups_never_straddle_folds(data):
    X, y, ids = data
    # two clips per source item, same label
    order = np.argsort(y, kind="stable")
    groups = np.empty(len(y), dtype=object)
    groups[order] = [f"g{i // 2}" for i in range(len(y))]
    r = run_cv(X, y, ids, "logreg", folds=4, groups=groups)
    assert "StratifiedGroupKFold" in r.note
    for g in np.unique(groups):
        assert len(set(r.fold[groups == g])) == 1


def test_h5_round_trip(tmp_path, data):
    X, y, ids = data
    r = run_cv(
        X,
        y,
        ids,
        "ovr_linear_svc",
        folds=3,
        feature_set="toy:mean",
        label_set="youtube",
        modality="audio",
    )
    r.to_h5(tmp_path / "r.h5")
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]  # no temp file left behind
    back = CVResult.from_h5(tmp_path / "r.h5")
    assert back.summary() == r.summary()
    np.testing.assert_array_equal(back.proba, r.proba)
    np.testing.assert_array_equal(back.y_pred, r.y_pred)
    np.testing.assert_array_equal(back.ids, r.ids)
    assert list(back.classes) == list(r.classes)
    assert back.label_set == "youtube" and back.modality == "audio" and back.kind == "single"


def test_text_input_uses_a_vectorizer_inside_the_pipeline():
    rng = np.random.default_rng(0)
    vocab = {"sport": "goal match team", "food": "recipe cook oven", "tech": "phone chip code"}
    filler = "the a video of and some".split()
    y, texts = [], []
    for i in range(60):
        label = list(vocab)[i % 3]
        words = vocab[label].split()[: 1 + i % 3] + list(rng.choice(filler, 6))
        rng.shuffle(words)
        y.append(label)
        texts.append(" ".join(words))
    X = np.array(texts, dtype=object)
    ids = np.array([f"t{i}" for i in range(60)], dtype=object)
    for name in ("ovr_linear_svc", "multinomial_nb", "complement_nb", "gaussian_nb"):
        for vec in ("tfidf", "count"):
            r = run_cv(X, np.array(y), ids, name, folds=3, text=vec)
            assert r.summary()["accuracy_mean"] > 0.8, (name, vec)


def test_align_intersects_and_counts_missing():
    X = np.arange(10, dtype=float).reshape(5, 2)
    ids = np.array(["a", "b", "c", "d", "e"], dtype=object)
    labels = pd.DataFrame(
        {
            "video_id": ["e", "c", "a", "zz"],
            "label": ["x", "y", "x", "y"],
            "group": ["1", "2", "1", "3"],
        }
    )
    Xa, y, ida, groups = align(X, ids, labels)
    assert list(ida) == ["a", "c", "e"]
    np.testing.assert_array_equal(Xa, X[[0, 2, 4]])
    assert list(y) == ["x", "y", "x"] and list(groups) == ["1", "2", "1"]
    cov = coverage(ids, labels)
    assert cov["n_missing_features"] == 1 and cov["n_unlabelled_features"] == 2
    _, _, _, g = align(X, ids, labels.drop(columns="group"))
    assert g is None


def test_rebalance_wraps_with_labels_helper(data):
    pytest.importorskip("trimodal.labels.label_sets")
    X, y, ids = data
    r = run_cv(X, y, ids, "mlp", folds=3, rebalance=True)
    assert r.summary()["balanced_accuracy_mean"] > 0.5


def test_evaluate_feature_set_from_a_store(tmp_path, data):
    X, y, ids = data
    files = []
    header = {"extractor": "toy", "kind": "toy", "modality": "audio", "model": "", "params": {}}
    for i, vid in enumerate(ids[:90]):
        f = tmp_path / "extract" / f"{vid}.h5"
        f.parent.mkdir(exist_ok=True)
        feats = Features(pooled={"mean": X[i].astype(np.float32)}, text=f"word{y[i]} filler")
        write_video_file(f, vid, header, features=feats)
        files.append(f)
    aggregate(files, tmp_path / "features" / "toy.h5")
    labels = tmp_path / "youtube.tsv"
    pd.DataFrame({"video_id": ids, "label": y}).to_csv(labels, sep="\t", index=False)
    r = evaluate_feature_set("toy:mean", labels, "logreg", tmp_path / "features", folds=3)
    assert r.label_set == "youtube" and r.modality == "audio" and r.feature_set == "toy:mean"
    assert len(r.ids) == 90 and r.n_missing == 60
    assert r.summary()["balanced_accuracy_mean"] > 0.5
    t = evaluate_feature_set("toy:text", labels, "complement_nb", tmp_path / "features", folds=3)
    assert t.summary()["accuracy_mean"] == pytest.approx(1.0)


def test_shipped_linear_classifiers_fit_500_by_1280_without_convergence_warnings():
    """The classifiers config/config.yaml ships, on 500 x 1,280 features like pooled CNN
    embeddings (non-negative, correlated, low rank). Issue 13 saw 25 liblinear
    ConvergenceWarnings and 24-68 s per fold on such features; the old settings (C=1 on
    standardised columns) warn here too (bench/bench_classify.py)."""
    import warnings
    from pathlib import Path

    import yaml
    from sklearn.exceptions import ConvergenceWarning

    from trimodal.learn.pipeline import make_classifier
    from trimodal.learn.tuning import nested

    cfg = yaml.safe_load((Path(__file__).parents[2] / "config" / "config.yaml").read_text())
    shipped = cfg["classify"]["classifiers"]
    assert "ovr_linear_svc" in shipped and "ovr_linear_svc_rebalanced" in shipped
    X, y, _ = embedding_like(0)
    for name in shipped:
        options = dict(cfg["classify"].get("options", {}).get(name, {}))
        search = options.pop("search", None)  # the shipped C grid: every C must converge
        est = nested(make_classifier(options.pop("base", name), seed=0, **options), search)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            est.fit(X[:400], y[:400])
        assert set(est.predict(X[400:])) <= set(y), name
