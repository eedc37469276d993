"""The classifier spec (trimodal.learn.classifier_spec): one place takes a classifier entry
apart and checks it without fitting, and the classify stage and the config check agree."""

from __future__ import annotations

import pytest
from sklearn.svm import LinearSVC

from tests.learn.test_cv import classify, corpus  # noqa: F401 - the grouped corpus fixture
from trimodal.learn.classifier_spec import INNER_FOLDS, ClassifierSpec
from trimodal.stages.config_check import check_config

PATH = ("classify", "options", "v")


def test_split_takes_an_entry_apart():
    spec = ClassifierSpec.split(
        "v",
        {"base": "ovr_linear_svc", "C": 3.0, "rebalance": True, "search": {"C": [1, 3]},
         "inner_folds": 4},
    )  # fmt: skip
    assert spec.base == "ovr_linear_svc" and spec.search == {"C": [1, 3]}
    assert spec.build == {"C": 3.0, "rebalance": True} and spec.inner_fold_count() == 4
    assert spec.estimator_options == {"C": 3.0} and spec.rebalance and spec.text is None
    assert spec.without_base() == {"C": 3.0, "rebalance": True, "search": {"C": [1, 3]},
                                   "inner_folds": 4}  # fmt: skip
    plain = ClassifierSpec.split("logreg")
    assert (plain.base, plain.build, plain.search, plain.inner_folds) == (
        "logreg", {}, None, INNER_FOLDS)  # fmt: skip
    # a ':text' feature set puts a vectorizer in front, unless the model reads raw text
    assert ClassifierSpec.split("logreg", {}, "t:text").text == "tfidf"
    assert ClassifierSpec.split("finetune", {}, "t:text").text is None
    assert ClassifierSpec.split("logreg", {"text": "count"}, "t:text").text == "count"


def test_problems_name_a_bad_build_option_search_key_and_inner_folds_without_fitting(
    monkeypatch,
):
    rows = []
    fit = LinearSVC.fit

    def spy(self, X, y, *a, **kw):
        rows.append(len(X))
        return fit(self, X, y, *a, **kw)

    monkeypatch.setattr(LinearSVC, "fit", spy)
    spec = ClassifierSpec.split(
        "v",
        {"base": "ovr_linear_svc", "C": "abc", "CC": 1, "search": {"Cx": [1]}, "inner_folds": 1},
    )
    problems = spec.problems(PATH)
    assert rows and set(rows) == {0}  # only zero-row fits: parameters checked, nothing learned
    by_key = {p.split(":", 1)[0]: p for p in problems}
    assert set(by_key) == {f"classify.options.v.{k}" for k in ("C", "CC", "search.Cx",
                                                                  "inner_folds")}  # fmt: skip
    assert "The 'C' parameter of LinearSVC must be a float" in by_key["classify.options.v.C"]
    assert "not an option of 'ovr_linear_svc' (did you mean 'C'?)" in by_key[
        "classify.options.v.CC"]  # fmt: skip
    assert "at least 2" in by_key["classify.options.v.inner_folds"]
    for good in ({"C": 0.5}, {"search": {"C": [0.1, 1]}, "inner_folds": 2}, {"rebalance": True}):
        assert ClassifierSpec.split("ovr_linear_svc", good).problems(PATH) == []


def test_a_subclass_of_ours_is_checked_by_its_scikit_learn_parent():
    (p,) = ClassifierSpec.split("mlp", {"alpha": -1}).problems(PATH)
    assert "The 'alpha' parameter of SmallClassMLP must be a float" in p


def test_fine_tuning_options_are_checked_without_loading_a_model():
    spec = ClassifierSpec.split("finetune", {"base": "finetune", "model": "/nowhere", "epochs": 1})
    assert spec.problems(PATH) == []


CASES = {
    "fine": {"C": 0.5},
    "searched": {"search": {"C": [0.1, 1.0]}, "inner_folds": 2},
    "bad_value": {"C": "abc"},
    "bad_key": {"CC": 1.0},
    "bad_search_key": {"search": {"CC": [1.0]}},
    "bad_inner_folds": {"search": {"C": [1.0]}, "inner_folds": 1},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_stage_and_the_config_check_agree(corpus, case):  # noqa: F811 - the fixture
    options = {"base": "ovr_linear_svc", **CASES[case]}
    config = {"classify": {"classifiers": ["v"], "options": {"v": options}}}
    checked = [p for p in check_config(config, schema=None) if p.startswith("classify.options")]
    try:
        classify(corpus, "v", options)
        ran = True
    except (ValueError, TypeError) as e:
        ran = False
        assert all(p in str(e) for p in checked)  # the job says what the check said
    assert ran == (checked == []), (case, checked)
