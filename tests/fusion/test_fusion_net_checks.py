"""The intermediate-fusion network honours scikit-learn's estimator contract
(parametrize_with_checks), so GridSearchCV / NestedSearch can clone and tune it."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from trimodal.fusion.net import IntermediateFusionClassifier
from trimodal.learn.tuning import NestedSearch

# Short training (the checks fit it ~100 times); the generic checks vary the number of columns,
# so they run with one block (block_slices=None): fixed column blocks cannot apply to them and
# are checked below instead. No check is expected to fail.
FAST = {"max_epochs": 30, "lr": 0.02, "patience": 5}
EXPECTED_FAILED: dict[str, str] = {}


@parametrize_with_checks(
    [IntermediateFusionClassifier(**FAST)], expected_failed_checks=lambda est: EXPECTED_FAILED
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_block_sliced_network_is_tuned_by_a_nested_search():
    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 20)
    X = rng.normal(size=(40, 6)) + (y == "a")[:, None]
    net = IntermediateFusionClassifier({"m1": (0, 2), "m2": (2, 6)}, **FAST)
    assert clone(net).get_params() == net.get_params()
    search = NestedSearch(net, {"width": [8, 16]}).fit(X, y)
    assert search.best_params_["width"] in (8, 16)
    assert search.best_estimator_.slices_ == [(0, 2), (2, 6)]
    assert search.predict(X).shape == (40,)
