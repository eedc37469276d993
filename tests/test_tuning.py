"""Nested model selection (trimodal.learn.tuning): the search runs inside each outer training fold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from trimodal.learn.classify import CVResult, make_classifier, run_cv, selected_text
from trimodal.learn.cv import make_folds
from trimodal.learn.tuning import NestedSearch, inner_cv, resolve_space

SEEDS = list(range(40))  # a wide space of equally useless settings on noise


def _noise(n=80, d=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.array(["a", "b"] * (n // 2), dtype=object)
    ids = np.array([f"v{i:03d}" for i in range(n)], dtype=object)
    return X, y, ids


def test_leaky_search_beats_chance_on_noise_but_nested_stays_at_chance():
    X, y, ids = _noise()
    fset = make_folds(ids, y, None, 5, 0)
    tree = DecisionTreeClassifier(max_features=1, max_depth=3)
    # leaky: the setting is chosen by its score on the outer test rows, and that score reported
    outer = [(tr, te) for _, tr, te in fset.splits(ids, y)]
    leaky = GridSearchCV(tree, {"random_state": SEEDS}, scoring="balanced_accuracy", cv=outer)
    leaky_score = leaky.fit(X, y).best_score_
    nested = run_cv(X, y, ids, NestedSearch(tree, {"random_state": SEEDS}), folds=fset)
    nested_score = float(np.mean(nested.scores["balanced_accuracy"]))
    assert leaky_score > nested_score + 0.08, (leaky_score, nested_score)
    assert abs(nested_score - 0.5) < 0.1, nested_score


class _Spy(ClassifierMixin, BaseEstimator):
    """Records the ids (column 0) of every row it is fitted on."""

    seen: list[set] = []

    def __init__(self, c: float = 1.0):
        self.c = c

    def fit(self, X, y):
        _Spy.seen.append(set(np.asarray(X)[:, 0].astype(int)))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_inner_search_never_sees_an_outer_test_row():
    X, y, ids = _noise(60)
    X = np.column_stack([np.arange(len(X)), X])
    fset = make_folds(ids, y, None, 5, 0)
    for f, tr, te in fset.splits(ids, y):
        _Spy.seen = []
        NestedSearch(_Spy(), {"c": [1.0, 2.0, 3.0]}).fit(X[tr], y[tr])
        assert len(_Spy.seen) == 3 * 3 + 1 + 1  # 3 settings x 3 inner folds, refit, default
        assert all(s.isdisjoint(te) for s in _Spy.seen), f"fold {f} saw test rows"


def test_inner_folds_are_grouped_when_groups_exist():
    y = np.array(["a", "b"] * 12)
    groups = np.repeat(np.arange(8), 3)
    cv = inner_cv(y, groups, 3, 0)
    for tr, te in cv.split(np.zeros(len(y)), y, groups):
        assert set(groups[tr]).isdisjoint(groups[te])
    assert inner_cv(np.array(["a", "b", "b"]), None) is None  # one 'a': no inner CV


def test_short_names_resolve_inside_pipelines_and_wrappers():
    est = make_classifier("ovr_linear_svc", rebalance=True)
    assert resolve_space(est, {"C": [1, 10]}) == {
        "estimator__clf__estimator__estimator__C": [1, 10]
    }
    with pytest.raises(ValueError, match="no parameter"):
        resolve_space(est, {"nonsense": [1]})


def test_run_cv_records_the_choice_per_fold_and_the_fixed_default(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array(["a", "b", "c"] * 20, dtype=object)
    X = rng.normal(size=(60, 8)) + (y[:, None] == "a") * 1.5
    ids = np.array([f"v{i}" for i in range(60)], dtype=object)
    est = NestedSearch(make_classifier("ovr_linear_svc"), {"C": [0.01, 1.0, 100.0]})
    r = run_cv(X, y, ids, est, folds=3)
    assert len(r.selection["per_fold"]) == 3
    assert all(f["params"]["C"] in (0.01, 1.0, 100.0) for f in r.selection["per_fold"])
    assert len(r.scores["fixed_balanced_accuracy"]) == 3
    # the fixed default is the estimator at its own settings, on the same folds
    fixed = run_cv(X, y, ids, make_classifier("ovr_linear_svc"), folds=3)
    np.testing.assert_allclose(
        r.scores["fixed_balanced_accuracy"], fixed.scores["balanced_accuracy"]
    )
    r.to_h5(tmp_path / "r.h5")
    back = CVResult.from_h5(tmp_path / "r.h5")
    assert back.selection == r.selection
    text = back.summary()["selected"]
    assert text == selected_text(r.selection) and "inner 3-fold balanced_accuracy over C" in text
    assert "fixed_balanced_accuracy_mean" in back.summary()


def test_config_check_names_a_malformed_search_space():
    from trimodal.stages.config_check import check_config

    config = {
        "classify": {
            "label_sets": [],
            "feature_sets": [],
            "classifiers": ["ovr_linear_svc"],
            "options": {"ovr_linear_svc": {"search": {"C": 1}}},
        },
        "fusion": {"sets": {"s": {"feature_sets": [], "options": {"meta_search": []}}}},
    }
    problems = check_config(config, schema=None)
    assert any(
        "classify.options.ovr_linear_svc.search.C: give a non-empty list" in p for p in problems
    )
    assert any("fusion.sets.s.options.meta_search: give a mapping" in p for p in problems)


def test_report_shows_the_chosen_settings_and_the_gain(tmp_path):
    from trimodal.report.summary import write_report

    rng = np.random.default_rng(0)
    y = np.array(["a", "b", "c"] * 20, dtype=object)
    X = rng.normal(size=(60, 8)) + (y[:, None] == "a") * 1.5
    ids = np.array([f"v{i}" for i in range(60)], dtype=object)
    est = NestedSearch(make_classifier("ovr_linear_svc"), {"C": [0.01, 1.0]})
    r = run_cv(
        X,
        y,
        ids,
        est,
        folds=3,
        feature_set="f:mean",
        label_set="L",
        classifier_name="ovr_linear_svc",
    )
    text = (write_report([r], tmp_path, "L")["markdown"]).read_text()
    assert "Model selection (nested)" in text
    assert "inner 3-fold balanced_accuracy over C: [0.01, 1.0]" in text
    gain = 100 * (
        np.mean(r.scores["balanced_accuracy"]) - np.mean(r.scores["fixed_balanced_accuracy"])
    )
    assert f"{gain:+.1f}" in text


@pytest.mark.slow  # ~50 s: each check fits a grid search
@parametrize_with_checks([NestedSearch(LogisticRegression(), {"C": [0.1, 1.0]}, inner_folds=2)])
def test_nested_search_passes_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_rows_without_a_group_are_groups_of_their_own():
    from trimodal.learn.tuning import group_keys

    assert group_keys(["", None, ""]) is None
    keys = group_keys(["g1", "", "g1", ""])
    assert keys[0] == keys[2] and len({keys[1], keys[3], keys[0]}) == 3


def test_late_stack_meta_search_is_nested_and_keeps_groups():
    import pandas as pd

    from tests.test_fusion import three_modalities
    from trimodal.fusion.evaluate import late_fusion_from_results

    blocks, y, ids = three_modalities(120)
    results = [
        run_cv(X, y, ids, "logreg", folds=4, seed=0, feature_set=m, modality=m)
        for m, (X, _) in blocks.items()
    ]
    groups = pd.Series([f"g{i // 2}" for i in range(len(ids))], index=ids)  # pairs of clips
    out = late_fusion_from_results(results, "stack", search={"C": [0.01, 1.0]}, groups=groups)
    per_fold = out.selection["per_fold"]
    assert len(per_fold) == 4 and all(f["params"]["C"] in (0.01, 1.0) for f in per_fold)
    assert len(out.scores["fixed_balanced_accuracy"]) == 4
    assert "inner 3-fold balanced_accuracy over C" in out.summary()["selected"]


def test_nested_search_splits_by_group_when_given_groups():
    X, y, _ = _noise(48)
    X = np.column_stack([np.arange(len(X)), X])
    groups = np.array([f"g{i // 4}" for i in range(len(X))])  # 12 groups of 4 rows
    _Spy.seen = []
    NestedSearch(_Spy(), {"c": [1.0, 2.0, 3.0]}).fit(X, y, groups=groups)
    all_rows = set(range(len(X)))
    for seen in _Spy.seen[:9]:  # the inner fits (then the refit and the default on all rows)
        held_out = all_rows - seen
        assert held_out and set(groups[list(seen)]).isdisjoint(groups[list(held_out)])
