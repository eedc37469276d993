"""Cross-validation of one classifier with out-of-fold predictions: the estimator built by
name, fitted on the training rows of each fold, scored on its test rows.

Every classifier is a scikit-learn estimator built by name from the registry
(:data:`trimodal.learn.classifiers.CLASSIFIERS`), so cross-validation, fusion and the report treat a
linear SVM, an MLP, the PyTorch fusion network or a fine-tuned transformer the same way.
Everything that learns from data (scaling, TF-IDF vocabulary, resampling, fine-tuning) sits
inside the estimator and is therefore fitted on the training rows of each fold only. The result
and its file: :mod:`trimodal.learn.results`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import has_fit_parameter

from trimodal.labels.label_sets import align, coverage, load_labels, take_rows
from trimodal.learn.classifier_spec import ClassifierSpec
from trimodal.learn.cv import Folds, NotEvaluated, label_set_folds, make_folds
from trimodal.learn.pipeline import make_classifier
from trimodal.learn.results import METRICS, CVResult, fold_scores, proba_in, score_fold
from trimodal.learn.training import given_validation, uses_validation
from trimodal.learn.tuning import NestedSearch, nested, searched
from trimodal.store.feature_sets import (
    EmptyStore,
    feature_set_modality,
    feature_set_provenance,
    load_feature_set,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- cross-validation


def _template(
    classifier: str | BaseEstimator, classifier_name: str | None, seed: int, opts: dict
) -> tuple[BaseEstimator, str]:
    """The unfitted estimator every fold clones, and the name the result gives it."""
    if isinstance(classifier, str):
        return make_classifier(classifier, seed=seed, **opts), classifier_name or classifier
    return classifier, classifier_name or type(classifier).__name__


def _fit_fold(est, X, y, tr, val, groups) -> float:
    """Fit `est` on the training rows `tr` (plus the validation rows `val` a learner that
    early-stops is given to stop on); the fit time in seconds."""
    t0 = time.perf_counter()
    rows = np.concatenate([tr, val]) if len(val) else tr
    # an estimator with an inner CV (a nested search, late-stack) keeps groups together
    fit_kw = (
        {"groups": groups[rows]} if groups is not None and has_fit_parameter(est, "groups") else {}
    )
    if len(val):
        with given_validation(np.isin(rows, val)):
            est.fit(take_rows(X, rows), y[rows], **fit_kw)
    else:
        est.fit(take_rows(X, tr), y[tr], **fit_kw)
    return time.perf_counter() - t0


def _out_of_fold(template, X, y, groups, splits, val, classes):
    """Fit a clone of `template` on each fold's training rows and predict its test rows:
    (predictions, probabilities, test fold of each row, per-fold scores, the nested search's
    selection)."""
    n, k = len(y), len(classes)
    y_pred = np.empty(n, dtype=object)
    proba = np.full((n, k), np.nan)
    fold_of = np.full(n, -1, dtype=np.int32)
    scores: dict[str, list[float]] = {
        key: [] for key in (*METRICS, *(f"baseline_{m}" for m in METRICS), "fit_time_s")
    }
    selection: dict[str, Any] = {}
    for f, tr, te in splits:
        est = clone(template)
        scores["fit_time_s"].append(_fit_fold(est, X, y, tr, val, groups))
        y_pred[te] = np.asarray(est.predict(take_rows(X, te))).astype(str)
        proba[te] = proba_in(est, take_rows(X, te), classes)
        fold_of[te] = f
        score_fold(scores, y[tr], y[te], y_pred[te], classes)
        if (search := searched(est)) is not None:
            fixed = est.predict_default(take_rows(X, te))
            _record_selection(selection, search, f, scores, fixed, y[te], classes)
    return y_pred, proba, fold_of, scores, selection


def _plain_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options a result records: their plain values."""
    return {k: v for k, v in options.items() if isinstance(v, (str, int, float, bool))}


def run_cv(
    X,
    y,
    ids,
    classifier: str | BaseEstimator,
    folds: int | Folds = 5,
    seed: int = 0,
    groups=None,
    *,
    feature_set: str = "",
    label_set: str = "",
    kind: str = "single",
    modality: str = "",
    n_missing: int = 0,
    classifier_name: str | None = None,
    options: dict[str, Any] | None = None,
    **opts: Any,
) -> CVResult:
    """Cross-validate `classifier` (a name in CLASSIFIERS, built with `opts`, or an estimator).

    folds: the label set's :class:`~trimodal.learn.cv.Folds` (restricted here to `ids`; `groups` and
    `seed` are then those of the label set), or a number of folds made on these rows by
    :func:`trimodal.learn.cv.make_folds`. Raises :class:`~trimodal.learn.cv.NotEvaluated` when the rows
    cannot be cross-validated. Returns out-of-fold predictions/probabilities, per-fold scores
    and fit times, and the majority-class baseline (DummyClassifier most_frequent) scored on the
    very same folds. The result records `options` (what the estimator was built with; default
    `opts`), their plain values.
    """
    y = np.asarray(y).astype(str).astype(object)
    ids = np.asarray(ids).astype(str).astype(object)
    if len(y) != len(ids) or X.shape[0] != len(y):
        raise ValueError(f"X has {X.shape[0]} rows, y {len(y)}, ids {len(ids)}")
    template, name = _template(classifier, classifier_name, seed, opts)
    classes = np.unique(y.astype(str)).astype(object)
    fset = folds if isinstance(folds, Folds) else make_folds(ids, y, groups, folds, seed)
    splits = fset.splits(ids, y)
    # split protocol: a learner that early-stops also gets the val rows to stop on
    val = fset.val_rows(ids) if uses_validation(template) else np.array([], dtype=int)
    g = None if groups is None else np.asarray(groups, dtype=object)
    y_pred, proba, fold_of, scores, selection = _out_of_fold(
        template, X, y, g, splits, val, classes
    )
    if fset.protocol == "split":  # predictions exist for the test videos only
        tested = fold_of >= 0
        ids, y, y_pred, proba, fold_of = (a[tested] for a in (ids, y, y_pred, proba, fold_of))
    return CVResult(
        feature_set=feature_set,
        classifier=name,
        classes=classes,
        ids=ids,
        y_true=y,
        y_pred=y_pred,
        proba=proba,
        fold=fold_of,
        scores={key: np.asarray(v) for key, v in scores.items()},
        label_set=label_set,
        kind=kind,
        modality=modality,
        n_folds=len(splits),
        folds_requested=fset.folds_requested,
        seed=fset.seed,
        note=fset.note,
        n_missing=n_missing,
        protocol=fset.protocol,
        options=_plain_options(opts if options is None else options),
        selection=selection,
    )


def _record_selection(selection, est: NestedSearch, fold, scores, fixed, y_te, classes) -> None:
    """One outer fold of a nested search: the chosen setting, and the fixed default's scores
    on the same test rows (``fixed_<metric>``, from its predictions `fixed`; None: no
    default), for the gain of the search."""
    if not selection:
        selection.update(
            space=dict(est.search or {}),
            inner_folds=est.inner_folds if est.cv is None else len(est.cv),
            scoring=est.scoring,
            per_fold=[],
        )
    selection["per_fold"].append(
        {"fold": int(fold), "params": est.best_params_, "inner_score": est.inner_score_}
        | ({"note": est.note_} if est.note_ else {})
    )
    if fixed is not None:
        pred = np.asarray(fixed).astype(str)
        for m, v in fold_scores(y_te, pred, classes).items():
            scores.setdefault(f"fixed_{m}", []).append(v)


# --------------------------------------------------------------------------- one feature set


def load_evaluable(feature_set: str, features_dir: str | os.PathLike = "results/features"):
    """(X, ids, modality) of a feature set (:func:`trimodal.store.feature_sets.load_feature_set`);
    an empty store raises :class:`~trimodal.learn.cv.NotEvaluated` (nothing to cross-validate)."""
    try:
        return load_feature_set(feature_set, features_dir)
    except EmptyStore as e:
        raise NotEvaluated(str(e)) from None


def evaluate_feature_set(
    feature_set: str,
    labels: str | os.PathLike | pd.DataFrame,
    classifier: str,
    features_dir: str | os.PathLike = "results/features",
    label_set: str = "",
    folds: int | str = 5,
    seed: int = 0,
    **opts: Any,
) -> CVResult:
    """Load a feature set and a label set, align them and cross-validate one classifier on the
    label set's folds (:func:`trimodal.learn.cv.label_set_folds`; ``folds="split"``: the split
    protocol).

    A degenerate case (one class among the covered videos, too few videos, an empty label set
    or store) gives a result marked not evaluated, with its reason, instead of scores.
    """
    labels_df = labels if isinstance(labels, pd.DataFrame) else load_labels(labels)
    label_set = label_set or ("" if isinstance(labels, pd.DataFrame) else Path(labels).stem)
    spec = ClassifierSpec.split(classifier, opts, feature_set)  # the entry by part
    search, inner_folds, opts = spec.search, spec.inner_fold_count(), spec.build
    modality = feature_set_modality(feature_set, features_dir)
    provenance = {feature_set: feature_set_provenance(feature_set, features_dir)}
    n_missing = len(labels_df)
    try:
        X, ids, modality = load_evaluable(feature_set, features_dir)
        n_missing = coverage(ids, labels_df)["n_missing_features"]
        fset = label_set_folds(labels_df, folds, seed)
        X, y, ids, groups = align(X, ids, labels_df)
        template = make_classifier(classifier, seed=seed, **opts)
        # the model at the end of the pipeline, inside the resampler when rebalanced
        model = getattr(template, "estimator", template)[-1]
        if hasattr(model, "model_provenance"):  # a pretrained model inside (fine-tuning)
            provenance[f"{feature_set} ({classifier})"] = model.model_provenance()
        result = run_cv(
            X,
            y,
            ids,
            nested(template, search, seed=seed, inner_folds=inner_folds),
            folds=fset,
            groups=groups,
            feature_set=feature_set,
            label_set=label_set,
            modality=modality,
            n_missing=n_missing,
            classifier_name=classifier,
            options=opts,
        )
    except NotEvaluated as e:
        log.warning("%s / %s: %s", feature_set, classifier, e.reason)
        result = CVResult.skipped(
            e.reason,
            feature_set=feature_set,
            classifier=classifier,
            label_set=label_set,
            modality=modality,
            folds_requested=1 if folds == "split" else folds,
            protocol="split" if folds == "split" else "kfold",
            seed=seed,
            n_missing=n_missing,
        )
    result.provenance = provenance
    return result
