"""Every estimator of the package keeps scikit-learn's contract: sklearn's own estimator checks
(`parametrize_with_checks`), each check that cannot apply listed with its reason (an expected
failure, so a check that starts passing is reported too)."""

from __future__ import annotations

import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from trimodal.learn.estimators import DecisionSoftmax, SmallClassMLP
from trimodal.learn.finetune import FinetunedTextClassifier
from trimodal.learn.rebalance import RebalancedClassifier

#: estimators checked without loading a model, with their expected failures below; the
#: package's others are checked beside their own tests: the intermediate-fusion network
#: (test_fusion_net_checks.py), the nested stacker (test_fusion.py), the nested search
#: (test_tuning.py) and the fine-tuned text classifier (below)
ESTIMATORS = [
    RebalancedClassifier(LogisticRegression()),
    DecisionSoftmax(LinearSVC()),
    SmallClassMLP(early_stopping=True, random_state=0),
]

#: class name -> {check name: why it cannot apply}
_PARTIAL = "scikit-learn's MLPClassifier.partial_fit refuses early_stopping=True (its own rule)"
EXPECTED_FAILED: dict[str, dict[str, str]] = {
    "SmallClassMLP": {
        "check_fit_score_takes_y": _PARTIAL,
        "check_n_features_in_after_fitting": _PARTIAL,
        "check_estimators_partial_fit_n_features": _PARTIAL,
    }
}


def _expected_failed(estimator) -> dict[str, str]:
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


# --- the fine-tuned text classifier: a tiny random-weight BERT (tests/tiny_models.py) --------

_TEXT = "reads raw text, one string per row: the check feeds it a 2-D numeric matrix"
FINETUNE_EXPECTED_FAILED = {
    name: _TEXT
    for name in [
        "check_fit_score_takes_y", "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
        "check_readonly_memmap_input", "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
        "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_classifier_data_not_an_array",
        "check_classifiers_one_label", "check_classifiers_classes", "check_classifiers_train",
        "check_supervised_y_2d", "check_methods_sample_order_invariance",
        "check_methods_subset_invariance", "check_fit2d_1sample", "check_fit2d_1feature",
        "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
        "check_n_features_in", "check_fit2d_predict1d",
    ]
}  # fmt: skip
FINETUNE_EXPECTED_FAILED["check_fit1d"] = "one string per row is its input: 1-D X is accepted"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from tests.tiny_models import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("bert"), ["a b c", "d e f"])


@pytest.mark.slow
@parametrize_with_checks(
    [FinetunedTextClassifier(epochs=1, batch_size=64, device="cpu", num_threads=1)],
    expected_failed_checks=lambda est: FINETUNE_EXPECTED_FAILED,
)
def test_finetune_estimator_contract_random_weights(estimator, check, tiny_bert):
    check(clone(estimator).set_params(model=tiny_bert))
