"""Nested model selection: a small search space tried inside each outer training fold.

A classifier or fusion entry may name a search space (``search: {C: [0.1, 1, 10]}``).
:class:`NestedSearch` is then the estimator cross-validation fits: on the outer training rows
it runs scikit-learn's ``GridSearchCV`` with an inner stratified k-fold (StratifiedGroupKFold
when the rows have groups, so one source item never straddles an inner split either; the folds
of :func:`trimodal.learn.cv.inner_cv`, the package's one fold builder), refits
the best setting on those rows, and also fits the fixed default (the entry without the search)
on the same rows, so the gain of the search is measured on the very same outer folds. The outer
test rows are never seen by the search.

Short names in a search space (``C``) are resolved to the estimator's parameter path
(``clf__estimator__estimator__C`` inside a pipeline and its wrappers) when exactly one
parameter ends with that name; a full path is accepted as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from trimodal.learn.classifier_spec import INNER_FOLDS  # the entry's default, owned by the spec
from trimodal.learn.cv import group_keys, inner_cv  # the one fold builder

SCORING = "balanced_accuracy"


def resolve_space(estimator: BaseEstimator, space: dict[str, list]) -> dict[str, list]:
    """The search space with each short name replaced by the estimator's parameter path."""
    params = estimator.get_params(deep=True)
    out: dict[str, list] = {}
    for key, values in space.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"search.{key}: give a non-empty list of values, got {values!r}")
        if key in params:
            out[key] = list(values)
            continue
        hits = [p for p in params if p.endswith(f"__{key}")]
        if len(hits) != 1:
            why = "no parameter" if not hits else f"{len(hits)} parameters ({', '.join(hits)})"
            raise ValueError(f"search.{key}: {why} of the estimator end with {key!r}")
        out[hits[0]] = list(values)
    return out


def _fitted_has(attr: str):
    return lambda self: hasattr(self.estimator, attr)


class NestedSearch(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """``estimator`` tuned over ``search`` by an inner CV of the rows `fit` is given.

    After fit: ``best_params_`` (the chosen setting, by the names of ``search``),
    ``inner_score_`` (its mean inner score), ``best_estimator_`` (refitted on all rows given),
    ``default_`` (the estimator at its own settings, fitted on the same rows; None when
    ``compare_default`` is False) and ``note`` when the inner CV was impossible (too few rows
    per class: the default is then used, and said so). ``cv``: explicit inner (train, test)
    row pairs for the rows `fit` is given (a caller that cannot pass `groups`, such as a
    StackingClassifier's final estimator); None: :func:`~trimodal.learn.cv.inner_cv`.
    """

    def __init__(
        self,
        estimator: BaseEstimator,
        search: dict[str, list] | None = None,
        inner_folds: int = INNER_FOLDS,
        scoring: str = SCORING,
        seed: int = 0,
        compare_default: bool = True,
        cv=None,
    ):
        self.estimator = estimator
        self.search = search
        self.inner_folds = inner_folds
        self.scoring = scoring
        self.seed = seed
        self.compare_default = compare_default
        self.cv = cv

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator).input_tags
        tags.input_tags.sparse = inner.sparse
        tags.input_tags.allow_nan = inner.allow_nan
        return tags

    def fit(self, X, y, groups=None):
        check_classification_targets(y)
        groups = group_keys(groups)
        space = resolve_space(self.estimator, dict(self.search or {}))
        short = {full: key for key, full in zip(self.search or {}, space, strict=True)}
        cv = self.cv if self.cv is not None else inner_cv(y, groups, self.inner_folds, self.seed)
        self.note_ = ""
        if cv is None or not space:
            self.note_ = "no inner CV possible (too few rows per class): default used"
            self.best_estimator_ = clone(self.estimator).fit(X, y)
            self.best_params_: dict[str, Any] = {}
            self.inner_score_ = float("nan")
        else:
            grid = GridSearchCV(
                clone(self.estimator), space, scoring=self.scoring, cv=cv, error_score="raise"
            )
            grid.fit(X, y, groups=groups)
            self.best_estimator_ = grid.best_estimator_
            self.best_params_ = {short[k]: _plain(v) for k, v in grid.best_params_.items()}
            self.inner_score_ = float(grid.best_score_)
        self.default_ = clone(self.estimator).fit(X, y) if self.compare_default else None
        self.classes_ = self.best_estimator_.classes_
        if hasattr(self.best_estimator_, "n_features_in_"):
            self.n_features_in_ = self.best_estimator_.n_features_in_
        return self

    def predict(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def predict_default(self, X):
        """Predictions of the fixed default fitted on the same rows (None without it): the
        score the search is compared with on the same outer folds."""
        check_is_fitted(self, "best_estimator_")
        return None if self.default_ is None else self.default_.predict(X)

    @available_if(_fitted_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    @available_if(_fitted_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X)


def _plain(v: Any) -> Any:
    """A JSON-friendly value (numpy scalars and tuples become Python ones)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    return v


def searched(est) -> NestedSearch | None:
    """The fitted search inside `est` whose choice a CV result records: `est` itself, or the
    ``search_`` a composite estimator exposes (late-stack's meta-model); else None."""
    if isinstance(est, NestedSearch):
        return est
    inner = getattr(est, "search_", None)
    return inner if isinstance(inner, NestedSearch) else None


def nested(estimator: BaseEstimator, search: dict | None, seed: int = 0, **kw) -> BaseEstimator:
    """`estimator` wrapped in :class:`NestedSearch` when `search` names a space, else as is."""
    return NestedSearch(estimator, dict(search), seed=seed, **kw) if search else estimator
