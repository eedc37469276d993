"""Nested model selection (trimodal.learn.tuning): the search runs inside each outer training fold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from trimodal.learn.classify import run_cv
from trimodal.learn.cv import make_folds
from trimodal.learn.pipeline import make_classifier
from trimodal.learn.results import CVResult, selected_text
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


class _ProbaSpy(_Spy):
    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_inner_search_never_sees_an_outer_test_row():
    """Through run_cv, which hands each outer fold's rows to the search: every fit the search
    makes in fold f (3 settings x 3 inner folds, the refit, the default) excludes f's test
    rows. A CV that handed the search more than the training rows fails here."""
    X, y, ids = _noise(60)
    X = np.column_stack([np.arange(len(X)), X])
    fset = make_folds(ids, y, None, 5, 0)
    _Spy.seen = []
    run_cv(X, y, ids, NestedSearch(_ProbaSpy(), {"c": [1.0, 2.0, 3.0]}), folds=fset)
    splits = fset.splits(ids, y)
    per_fold = 3 * 3 + 1 + 1
    assert len(_Spy.seen) == per_fold * len(splits)
    for k, (f, tr, te) in enumerate(splits):
        fits = _Spy.seen[k * per_fold : (k + 1) * per_fold]
        assert all(s.isdisjoint(te) for s in fits), f"fold {f}: the search saw its test rows"
        assert set().union(*fits) == set(tr)  # and it had every training row


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
    from trimodal.learn.cv import group_keys

    assert group_keys(["", None, ""]) is None
    keys = group_keys(["g1", "", "g1", ""])
    assert keys[0] == keys[2] and len({keys[1], keys[3], keys[0]}) == 3


def _late_stack(tmp_path, options, groups=True, seed=0):
    """The workflow's late-stack (FUSION_KINDS["late-stack"]) on three informative stores of
    a label set whose clips come in groups of two."""
    import pandas as pd

    from tests.fusion.test_fusion import three_modalities
    from tests.learn.test_cv import write_store
    from trimodal.fusion.kinds import FUSION_KINDS, FusionJob

    blocks, y, ids = three_modalities(96, seed=seed)
    feat_dir = tmp_path / "features"
    for name, (Xb, _) in blocks.items():
        write_store(feat_dir, tmp_path, name, "audio", list(ids), X=Xb)
    labels = pd.DataFrame({"video_id": ids, "label": y})
    if groups:
        labels["group"] = [f"g{i // 2}" for i in range(len(ids))]
    labels.to_csv(tmp_path / "l.tsv", sep="\t", index=False)
    job = FusionJob([f"{m}:mean" for m in blocks], str(tmp_path / "l.tsv"), "l",
                    str(feat_dir), "logreg", 3, 0, options=options)  # fmt: skip
    return FUSION_KINDS["late-stack"].run(job), labels


def test_late_stack_applies_meta_search_inside_each_outer_training_fold(tmp_path, monkeypatch):
    """What the workflow's late-stack runs: the meta-model's C chosen per outer fold on inner
    folds of that fold's training rows (grouped: the two clips of a group never straddle an
    inner split), recorded with the fixed meta-model's scores; and the choice matters."""
    import trimodal.fusion.evaluate as fe

    inner, real = [], fe.inner_splits

    def spy(y, groups=None, folds=3, seed=0):
        out = real(y, groups, folds, seed)
        inner.append((len(y), groups, out))
        return out

    monkeypatch.setattr(fe, "inner_splits", spy)
    out, labels = _late_stack(tmp_path, {"meta_search": {"C": [1e-4, 1.0, 1e4]}})
    searched = list(inner)  # the searched run's inner CVs (not the runs below)
    (tmp_path / "fixed").mkdir()
    assert out.evaluated, out.not_evaluated
    per_fold = out.selection["per_fold"]
    assert len(per_fold) == 3 and all(f["params"]["C"] in (1e-4, 1.0, 1e4) for f in per_fold)
    assert len(out.scores["fixed_balanced_accuracy"]) == 3
    # the fixed meta-model (C = 1) scored on the same folds: as well as the one without a search
    fixed, _ = _late_stack(tmp_path / "fixed", {})
    np.testing.assert_allclose(out.scores["fixed_balanced_accuracy"],
                               fixed.scores["balanced_accuracy"])  # fmt: skip
    assert "over C: [0.0001, 1.0, 10000.0]" in out.summary()["selected"]
    from trimodal.report.summary import write_report

    report = write_report([out], tmp_path / "report", "l")["markdown"].read_text()
    section = report[report.index("Model selection (nested)") :]
    assert "logreg_meta" in section.split("##")[0]  # the demo report's selection table
    # nested: each search ran on one outer fold's training rows, its inner folds grouped
    train_sizes = sorted(len(tr) for _, tr, _ in splits_of(out))
    assert sorted(n for n, _, _ in searched) == train_sizes
    for _, groups, splits in searched:
        assert groups is not None, "late-stack's inner CV lost the label set's groups"
        g = np.asarray(groups)
        for tr, te in splits:
            assert set(g[tr]).isdisjoint(g[te])
    # the space is applied: a tiny C and a huge one do not score the same
    (tmp_path / "tiny").mkdir()
    (tmp_path / "huge").mkdir()
    tiny, _ = _late_stack(tmp_path / "tiny", {"meta_search": {"C": [1e-4]}})
    huge, _ = _late_stack(tmp_path / "huge", {"meta_search": {"C": [1e4]}})
    assert not np.allclose(tiny.proba, huge.proba)


def splits_of(result):
    from trimodal.learn.cv import splits_from_assignment

    return splits_from_assignment(result.fold)


def test_late_stack_builds_its_base_models_with_their_configured_options(tmp_path, monkeypatch):
    """`base_options` (classify.options of the set's classifier, filled in by the workflow)
    reach every base model late-stack refits."""
    import trimodal.fusion.evaluate as fe

    built = []
    real = fe.make_classifier

    def spy(name, **kw):
        built.append((name, kw.get("C")))
        return real(name, **kw)

    monkeypatch.setattr(fe, "make_classifier", spy)
    out, _ = _late_stack(tmp_path, {"base_options": {"base": "logreg", "C": 0.125}})
    assert out.evaluated and built and set(built) == {("logreg", 0.125)}


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
