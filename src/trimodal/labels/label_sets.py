"""Label sets: the sheet's labels, filtered and merged, and rebalancing that stays inside CV.

The original study balanced the corpus by duplicating minority-class rows up to N/k and dropping
majority-class rows down to N/k *before* splitting, so copies of one video landed in both train
and test and inflated the scores. Here rebalancing is a resampler of *training* rows only:
:func:`rebalance_indices` on a training fold's labels, or :class:`RebalancedClassifier` wrapped
around a pipeline so every ``fit`` inside cross-validation rebalances its own training fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)


def _is_missing(s: pd.Series) -> pd.Series:
    return s.isna() | (s.astype("string").str.strip().fillna("") == "")


def base_labels(
    sheet: pd.DataFrame,
    label_col: str = "label",
    id_col: str = "video_id",
    languages: pd.DataFrame | None = None,
    keep_languages: tuple[str, ...] | list[str] | None = ("en",),
    min_language_probability: float = 0.0,
    keep_unknown_language: bool = True,
) -> pd.DataFrame:
    """``[video_id, label]`` for the labelled videos of the sample sheet.

    ``languages`` (columns video_id, language, language_probability, e.g. Whisper's store meta)
    drops videos detected in another language than ``keep_languages`` with at least
    ``min_language_probability``; videos absent from it (no speech track) are kept unless
    ``keep_unknown_language`` is False.
    """
    df = sheet[[id_col, label_col]].rename(columns={id_col: "video_id", label_col: "label"})
    df = df[~_is_missing(df["label"])].copy()
    df["video_id"] = df["video_id"].astype(str)
    df["label"] = df["label"].astype(str).str.strip()
    if languages is not None and keep_languages:
        lang = languages.copy()
        lang["video_id"] = lang["video_id"].astype(str)
        lang = lang.drop_duplicates("video_id").set_index("video_id")
        code = lang["language"].reindex(df["video_id"]).astype("string").str.lower()
        prob = (
            lang["language_probability"].reindex(df["video_id"]).astype(float)
            if "language_probability" in lang
            else pd.Series(1.0, index=code.index)
        )
        known = code.notna() & (code != "")
        other = known & ~code.isin([k.lower() for k in keep_languages])
        drop = other & (prob.fillna(1.0) >= min_language_probability)
        if not keep_unknown_language:
            drop |= ~known
        df = df[~drop.to_numpy()]
    if df["video_id"].duplicated().any():
        dup = df.loc[df["video_id"].duplicated(), "video_id"].tolist()[:5]
        raise ValueError(f"video ids labelled more than once, e.g. {dup}")
    return df.reset_index(drop=True)


def labelled_rows(ids, labels: pd.DataFrame | pd.Series) -> tuple[np.ndarray, pd.DataFrame]:
    """Which of ``ids`` have a label: their positions (in ``ids`` order) and their label rows.

    The one alignment of feature rows with labels (classification, fusion, cross-modal).
    ``labels``: a label set (``video_id``, ``label`` [, ``group``]; a repeated id's first row
    counts) or a Series indexed by video id (its values become the ``label`` column).
    """
    if isinstance(labels, pd.Series):
        frame = labels.to_frame("label")
    else:
        frame = labels.drop_duplicates("video_id").set_index("video_id")
    frame.index = frame.index.astype(str)
    ids = np.asarray(ids).astype(str)
    keep = np.flatnonzero(np.isin(ids, frame.index.to_numpy(dtype=str)))
    return keep, frame.loc[ids[keep]]


def merge_classes(labels: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """Rename classes (e.g. ``{"Autos & Vehicles": "Travel & Events"}``); others unchanged."""
    out = labels.copy()
    out["label"] = out["label"].map(lambda v: mapping.get(v, v))
    return out


def rebalance_indices(y, target: str | int = "n_over_k", seed: int | None = 0) -> np.ndarray:
    """Row indices (into ``y``) of a rebalanced sample: every class gets ``target`` rows.

    ``target="n_over_k"`` is the original study's rule (N rows, k classes: each class N // k
    rows); ``"max"`` oversamples to the largest class; an int sets the per-class count. A class
    with more rows is subsampled without replacement; a class with fewer keeps every row and
    repeats them as evenly as possible (whole copies, then a random remainder). The result is
    shuffled. Call it on a training fold's labels only.
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError("y must be a non-empty 1-D array of labels")
    rng = np.random.default_rng(seed)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    if target == "n_over_k":
        per_class = max(1, len(y) // len(classes))
    elif target == "max":
        per_class = int(counts.max())
    elif isinstance(target, (int, np.integer)) and target > 0:
        per_class = int(target)
    else:
        raise ValueError(f"unknown rebalancing target {target!r}")
    out = []
    for c in range(len(classes)):
        rows = np.flatnonzero(inverse == c)
        if len(rows) >= per_class:
            out.append(rng.choice(rows, per_class, replace=False))
        else:
            whole, rest = divmod(per_class, len(rows))
            out.append(np.tile(rows, whole))
            out.append(rng.choice(rows, rest, replace=False))
    idx = np.concatenate(out)
    rng.shuffle(idx)
    return idx


def _estimator_has(attr: str):
    def check(self):
        return hasattr(getattr(self, "estimator_", self.estimator), attr)

    return check


class RebalancedClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fit a clone of ``estimator`` on a rebalanced resample of the rows it is given.

    Wrapped around a whole pipeline (vectoriser, scaler, classifier) it rebalances inside every
    cross-validation fold: test rows are never resampled and never copied into training.
    Prediction delegates to the fitted clone unchanged.
    """

    def __init__(self, estimator, seed: int | None = 0, target: str | int = "n_over_k"):
        self.estimator = estimator
        self.seed = seed
        self.target = target

    def fit(self, X, y, **fit_params):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        # rows of text or vectors: the wrapped pipeline checks their content, this only their shape
        X = check_array(
            X, accept_sparse="csr", dtype=None, ensure_2d=False, ensure_all_finite=False
        )
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        idx = rebalance_indices(y, target=self.target, seed=self.seed)
        n = len(y)
        params = {
            k: (_safe_indexing(v, idx) if hasattr(v, "__len__") and len(v) == n else v)
            for k, v in fit_params.items()
        }
        self.estimator_ = clone(self.estimator).fit(_safe_indexing(X, idx), y[idx], **params)
        self.classes_ = self.estimator_.classes_
        self.resampled_indices_ = idx
        return self

    @property
    def n_features_in_(self):
        return self.estimator_.n_features_in_  # AttributeError before fit, as sklearn's Pipeline

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse
        return tags

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self)
        return self.estimator_.decision_function(X)
