"""Early and late fusion of modalities, evaluated with the same CV machinery as single blocks.

Early fusion concatenates pooled vectors on the videos every block has; each block is
standardised by its own StandardScaler inside the pipeline (fitted on training rows only) and
weighted by 1/sqrt(d) so a 1024-d block does not drown a 128-d one in the kernel or the penalty.

Late fusion stacks per-modality OUT-OF-FOLD probabilities: the probability vector of a row was
produced by a base model that never saw that row, so a meta-classifier trained on them learns how
much to trust each modality rather than how well each base model memorised its training rows.
(Second-order caveat: the base model that produced a meta-training row's probabilities may have
seen a meta-test row, so :func:`late_fusion_cv`'s "stack" is not what the workflow's
``late-stack`` runs: that is :class:`NestedStacking`, fully nested, base models refitted inside
every outer fold with an inner CV on its training rows only. "mean" and "vote" train nothing on
the probabilities, so they have no second-order leak.)
:func:`late_fusion_leaky` reproduces the original study's leaky setup for the test that shows why.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from trimodal.labels.label_sets import align, coverage, labelled_rows, load_labels
from trimodal.learn.classify import load_evaluable, run_cv
from trimodal.learn.cv import (
    Folds,
    NotEvaluated,
    agreed_folds,
    inner_splits,
    label_set_folds,
    splitter,
)
from trimodal.learn.pipeline import make_classifier
from trimodal.learn.results import CVResult, proba_in, score_fold
from trimodal.learn.tuning import NestedSearch, nested
from trimodal.store.feature_sets import feature_set_modality, feature_set_provenance
from trimodal.store.rows import common_rows

# --------------------------------------------------------------------------- early fusion


def early_fusion_matrix(
    blocks: dict[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate blocks (X_b, ids_b) column-wise on the ids all blocks share (first block's order)."""
    mats, ids = common_rows(*blocks.values())
    return np.hstack([np.asarray(X, dtype=np.float32) for X in mats]), ids


def block_slices(blocks: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[int, int]]:
    """Column range (start, stop) of each block in :func:`early_fusion_matrix`'s output."""
    out, start = {}, 0
    for name, (X, _) in blocks.items():
        d = np.asarray(X).shape[1]
        out[name] = (start, start + d)
        start += d
    return out


def block_scaler(slices: dict[str, tuple[int, int]], balance: bool = True) -> ColumnTransformer:
    """One StandardScaler per block (fitted inside CV), optionally weighted by 1/sqrt(d_block)."""
    weights = {n: 1.0 / np.sqrt(b - a) for n, (a, b) in slices.items()} if balance else None
    return ColumnTransformer(
        [(name, StandardScaler(), list(range(a, b))) for name, (a, b) in slices.items()],
        transformer_weights=weights,
    )


def early_fusion_pipeline(
    classifier: str, slices: dict[str, tuple[int, int]], seed: int = 0, balance: bool = True, **opts
) -> Pipeline:
    """Per-block scaling, then the named classifier (without its own global scaler)."""
    return Pipeline(
        [
            ("blocks", block_scaler(slices, balance)),
            ("model", make_classifier(classifier, seed=seed, scale=False, **opts)),
        ]
    )


def evaluate_blocks(
    feature_sets: list[str],
    labels: str | os.PathLike | pd.DataFrame,
    make_estimator,
    features_dir: str | os.PathLike = "results/features",
    label_set: str = "",
    folds: int | str = 5,
    seed: int = 0,
    kind: str = "early",
    classifier_name: str = "",
) -> CVResult:
    """Cross-validate an estimator on several pooled feature sets side by side, on the label
    set's folds restricted to the videos every block has.

    make_estimator(slices) builds the estimator from the column range of each block; early
    fusion and the intermediate network differ only there. A degenerate case gives a result
    marked not evaluated (see :func:`trimodal.learn.classify.evaluate_feature_set`).
    """
    labels_df = labels if isinstance(labels, pd.DataFrame) else load_labels(labels)
    mods = [feature_set_modality(fs, features_dir) for fs in feature_sets]
    provenance = {fs: feature_set_provenance(fs, features_dir) for fs in feature_sets}
    n_missing = len(labels_df)
    try:
        blocks = {}
        for fs in feature_sets:
            X, ids, _ = load_evaluable(fs, features_dir)
            blocks[fs] = (X, ids)
        X, ids = early_fusion_matrix(blocks)
        n_missing = coverage(ids, labels_df)["n_missing_features"]
        fset = label_set_folds(labels_df, folds, seed)
        X, y, ids, groups = align(X, ids, labels_df)
        result = run_cv(
            X,
            y,
            ids,
            make_estimator(block_slices(blocks)),
            folds=fset,
            groups=groups,
            feature_set="+".join(feature_sets),
            label_set=label_set,
            kind=kind,
            modality="+".join(mods),
            n_missing=n_missing,
            classifier_name=classifier_name,
        )
    except NotEvaluated as e:
        result = CVResult.skipped(
            e.reason,
            feature_set="+".join(feature_sets),
            classifier=classifier_name,
            label_set=label_set,
            kind=kind,
            modality="+".join(mods),
            folds_requested=1 if folds == "split" else folds,
            protocol="split" if folds == "split" else "kfold",
            seed=seed,
            n_missing=n_missing,
        )
    result.provenance = provenance
    return result


def evaluate_early(
    feature_sets: list[str],
    labels: str | os.PathLike | pd.DataFrame,
    classifier: str,
    features_dir: str | os.PathLike = "results/features",
    label_set: str = "",
    folds: int | str = 5,
    seed: int = 0,
    **opts: Any,
) -> CVResult:
    """Early fusion of pooled feature sets (no ":text" sets: embed text first)."""
    return evaluate_blocks(
        feature_sets,
        labels,
        lambda slices: early_fusion_pipeline(classifier, slices, seed=seed, **opts),
        features_dir,
        label_set,
        folds,
        seed,
        kind="early",
        classifier_name=classifier,
    )


# --------------------------------------------------------------------------- late fusion


class _BlockCombiner(ClassifierMixin, BaseEstimator):
    """No-training combiner of k-column probability blocks: mean of probabilities, or vote."""

    def __init__(self, n_classes: int, method: str = "mean"):
        self.n_classes = n_classes
        self.method = method

    def fit(self, X, y):
        self.classes_ = np.unique(np.asarray(y).astype(str))
        if len(self.classes_) != self.n_classes:
            raise ValueError("every class must appear in the training rows")
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        P = np.asarray(X, dtype=float).reshape(len(X), -1, self.n_classes)  # (n, blocks, k)
        if self.method == "mean":
            return P.mean(axis=1)
        if self.method == "vote":
            votes = np.eye(self.n_classes)[P.argmax(axis=2)].sum(axis=1)
            # ties between equally voted classes go to the higher mean probability
            return (votes + 1e-6 * P.mean(axis=1)) / P.shape[1]
        raise ValueError(f"method must be mean or vote, got {self.method!r}")

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]


def _meta_features(oof_probas: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], classes):
    """Concatenate per-block probabilities in a common class order on the shared ids."""
    blocks = {}
    for name, (P, cls, ids) in oof_probas.items():
        col = {str(c): j for j, c in enumerate(cls)}
        P = np.asarray(P, dtype=float)
        blocks[name] = (
            np.column_stack([P[:, col[c]] if c in col else np.zeros(len(P)) for c in classes]),
            np.asarray(ids).astype(str),
        )
    return early_fusion_matrix(blocks)


def _y_for(y, ids: np.ndarray) -> np.ndarray:
    keep, rows = labelled_rows(ids, y if isinstance(y, pd.Series) else pd.Series(dict(y)))
    if len(keep) < len(ids):
        missing = np.setdiff1d(np.asarray(ids).astype(str), rows.index.to_numpy(dtype=str))
        raise KeyError(f"{len(missing)} videos have no value, e.g. {missing[:5].tolist()}")
    return rows["label"].to_numpy(dtype=object).astype(str)


def meta_classifier(seed: int = 0) -> LogisticRegression:
    return LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed)


def late_fusion_cv(
    oof_probas: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    y: pd.Series,
    folds: int | Folds | pd.Series = 5,
    seed: int = 0,
    method: str = "stack",
    groups: pd.Series | None = None,
    label_set: str = "",
    search: dict | None = None,
) -> CVResult:
    """Late fusion evaluated by CV on per-modality OOF probabilities.

    oof_probas: name -> (proba (n, k), classes, ids), e.g. from CVResult.proba/classes/ids.
    y: labels as a Series indexed by video id (covering the shared ids).
    folds: the base results' fold assignment (Series video id -> fold: the meta-classifier is
    then tested on exactly the rows each base model was tested on), a label set's Folds, or a
    number of folds made on the shared rows.
    method: "stack" (LogisticRegression meta-classifier), "mean" (average of probabilities) or
    "vote" (majority of per-modality argmax); all three are scored on the same folds.
    search: a space for the stacking meta-model (e.g. {"C": [0.1, 1, 10]}), searched inside
    each outer training fold (:class:`trimodal.learn.tuning.NestedSearch`).
    """
    classes = sorted({str(c) for _, cls, _ in oof_probas.values() for c in cls})
    X, ids = _meta_features(oof_probas, classes)
    yy = _y_for(y, ids)
    g = _y_for(groups, ids) if groups is not None else None
    if isinstance(folds, pd.Series):
        n_requested = int(folds.attrs.get("folds_requested", folds.nunique()))
        folds = Folds(
            fold=folds.set_axis(folds.index.astype(str)),
            folds_requested=n_requested,
            seed=seed,
            grouped=False,
            note="folds of the base results",
        )
    if method == "stack":
        est: BaseEstimator = nested(meta_classifier(seed), search, seed=seed)
        clf_name = "logreg_meta"
    else:
        est, clf_name = _BlockCombiner(len(classes), method), method
    return run_cv(
        X,
        yy,
        ids,
        est,
        folds=folds,
        seed=seed,
        groups=g,
        feature_set="+".join(oof_probas),
        label_set=label_set,
        kind=f"late-{method}",
        classifier_name=clf_name,
    )


def late_fusion_from_results(
    results: list[CVResult],
    method: str = "stack",
    folds: int | None = None,
    seed: int = 0,
    search: dict | None = None,
    groups: pd.Series | None = None,
    train_labels: pd.Series | None = None,
) -> CVResult:
    """Late fusion of single-modality CV results (their OOF probabilities and labels), tested
    on the folds the base results were scored on (which must agree on their shared videos).

    folds, seed: unused (the folds are the base results'); kept for callers. A base result
    that was not evaluated makes this one not evaluated too. Under the split protocol, mean and
    vote combine the base models' test predictions (:func:`late_combine_split`; train_labels:
    the training videos' labels, for the majority baseline); stack, which fits on out-of-fold
    probabilities of the training videos, is not evaluated.
    """
    name = "+".join(f"{r.feature_set}({r.classifier})" for r in results)
    modality = "+".join(r.modality for r in results)
    provenance = {k: v for r in results for k, v in r.provenance.items()}
    if any(r.protocol == "split" for r in results) and method != "stack":
        return late_combine_split(results, method, train_labels)
    if any(r.protocol == "split" for r in results):
        return CVResult.skipped(
            "not evaluated: late fusion fits on out-of-fold probabilities of the training "
            "videos; under the split protocol the base results predict the test videos only",
            feature_set=name,
            classifier="logreg_meta" if method == "stack" else method,
            label_set=results[0].label_set,
            kind=f"late-{method}",
            modality=modality,
            folds_requested=1,
            protocol="split",
            seed=results[0].seed,
            provenance=provenance,
        )
    skipped = [r for r in results if not r.evaluated]
    if skipped:
        r = skipped[0]
        out = CVResult.skipped(
            f"not evaluated: base result {r.name} was {r.not_evaluated}",
            feature_set=name,
            classifier="logreg_meta" if method == "stack" else method,
            label_set=results[0].label_set,
            kind=f"late-{method}",
            modality=modality,
            folds_requested=results[0].folds_requested,
            seed=results[0].seed,
            provenance=provenance,
        )
        return out
    fold = agreed_folds({f"base result {i + 1} ({r.name})": r.folds for i, r in enumerate(results)})
    fold.attrs["folds_requested"] = results[0].folds_requested
    oof = {r.feature_set: (r.proba, r.classes, r.ids) for r in results}
    y = pd.concat([pd.Series(r.y_true, index=r.ids) for r in results])
    y = y[~y.index.duplicated()]
    out = late_fusion_cv(
        oof,
        y,
        folds=fold,
        seed=results[0].seed,
        method=method,
        label_set=results[0].label_set,
        search=search,
        groups=groups,
    )
    out.modality = modality
    out.feature_set = name
    out.provenance = provenance
    return out


def late_combine_split(
    results: list[CVResult], method: str, train_labels: pd.Series | None = None
) -> CVResult:
    """Late mean or vote under the split protocol: nothing is fitted, so the base models'
    test-video probabilities (each trained on the train videos) are combined directly, on the
    test videos that every base result predicted, and scored once beside the majority class of
    the train videos (`train_labels`; the test labels' majority when not given)."""
    name = "+".join(f"{r.feature_set}({r.classifier})" for r in results)
    head = dict(
        feature_set=name,
        classifier=method,
        label_set=results[0].label_set,
        kind=f"late-{method}",
        modality="+".join(r.modality for r in results),
        folds_requested=1,
        protocol="split",
        seed=results[0].seed,
        provenance={k: v for r in results for k, v in r.provenance.items()},
    )
    skipped = [r for r in results if not r.evaluated]
    if skipped:
        return CVResult.skipped(
            f"not evaluated: base result {skipped[0].name} was {skipped[0].not_evaluated}", **head
        )
    classes = sorted({str(c) for r in results for c in r.classes})
    X, ids = _meta_features({r.feature_set: (r.proba, r.classes, r.ids) for r in results}, classes)
    if len(ids) == 0:
        return CVResult.skipped("not evaluated: the base results share no test video", **head)
    y = pd.concat([pd.Series(r.y_true, index=np.asarray(r.ids).astype(str)) for r in results])
    y = y[~y.index.duplicated()].reindex(ids).to_numpy(dtype=object).astype(str)
    comb = _BlockCombiner(len(classes), method)
    comb.classes_ = np.asarray(classes, dtype=object)  # nothing to fit
    proba = comb.predict_proba(X)
    y_pred = comb.classes_[proba.argmax(axis=1)].astype(str)
    y_train = y if train_labels is None or not len(train_labels) else train_labels.to_numpy()
    scores: dict[str, list] = {"fit_time_s": [0.0]}
    score_fold(scores, np.asarray(y_train).astype(str), y, y_pred, np.asarray(classes))
    return CVResult(
        classes=np.asarray(classes, dtype=object),
        ids=np.asarray(ids, dtype=object),
        y_true=y,
        y_pred=y_pred,
        proba=proba,
        fold=np.zeros(len(ids), dtype=np.int32),
        scores={k: np.asarray(v) for k, v in scores.items()},
        n_folds=1,
        note="official split: the base models' test predictions combined (nothing fitted)",
        **head,
    )


def late_fusion_leaky(
    blocks: dict[str, np.ndarray],
    y,
    ids,
    base: BaseEstimator,
    folds: int | str = 5,
    seed: int = 0,
) -> CVResult:
    """The LEAKY setup (for the leakage test only): base models fit on ALL rows, the meta-classifier
    cross-validated on their in-sample probabilities. Every row's meta-features were produced by
    a model that was trained on that row's label."""
    y = np.asarray(y).astype(str)
    classes = np.unique(y)
    feats = [proba_in(clone(base).fit(X, y), X, classes) for X in blocks.values()]
    return run_cv(
        np.hstack(feats),
        y,
        ids,
        meta_classifier(seed),
        folds=folds,
        seed=seed,
        feature_set="+".join(blocks),
        kind="late-leaky",
        classifier_name="logreg_meta",
    )


# --------------------------------------------------------------------------- fully nested stacking


def stacking_estimator(
    slices: dict[str, tuple[int, int]],
    base_classifiers: dict[str, str | BaseEstimator],
    seed: int = 0,
    inner_folds: int | list = 3,
    meta: BaseEstimator | None = None,
    base_options: dict | None = None,
) -> StackingClassifier:
    """Late fusion as one estimator on the concatenated matrix: each base model (a name built
    with `base_options`, or an estimator) sees its own columns, its meta-features come from an
    inner CV on the outer training rows only (`inner_folds`: a number, or the (train, test)
    pairs of :func:`trimodal.learn.cv.inner_splits`); `meta`: the meta-model (default
    :func:`meta_classifier`)."""
    estimators = []
    for name, (a, b) in slices.items():
        base = base_classifiers[name]
        if isinstance(base, str):
            base = make_classifier(base, seed=seed, **(base_options or {}))
        else:
            base = clone(base)
        select = ColumnTransformer([("cols", "passthrough", list(range(a, b)))])
        estimators.append((name.replace(":", "_"), Pipeline([("select", select), ("model", base)])))
    cv = (
        splitter(inner_folds, grouped=False, seed=seed)
        if isinstance(inner_folds, int)
        else inner_folds
    )
    return StackingClassifier(
        estimators,
        final_estimator=meta if meta is not None else meta_classifier(seed),
        cv=cv,
        stack_method="predict_proba",
    )


class NestedStacking(ClassifierMixin, BaseEstimator):
    """Late stacking as one estimator on the concatenated blocks, fully nested: `fit` refits
    every block's base classifier on the training rows it is given, and the meta-classifier
    learns from an inner cross-validation of those rows only (:func:`stacking_estimator`; the
    folds of :func:`trimodal.learn.cv.inner_splits`, grouped when `fit` gets groups). Run by an
    outer CV, no row a fold tests on has touched any model of that fold.

    slices: block name -> (first, last) column; None: one block of every column.
    base, base_options: the base classifier's name and the options it is built with (those of
    its ``classify.options`` entry, so that its out-of-fold probabilities are those of the
    configured classifier).
    meta_search: a space for the meta-model (e.g. ``{"C": [0.1, 1, 10]}``), searched on the
    same inner folds of the outer training rows (:class:`~trimodal.learn.tuning.NestedSearch`;
    after fit ``search_`` holds the choice, and :meth:`predict_default` the fixed meta-model's
    predictions, which a CV result scores beside the searched one).
    """

    def __init__(
        self,
        slices=None,
        base="ovr_linear_svc",
        inner_folds=3,
        seed=0,
        base_options=None,
        meta_search=None,
    ):
        self.slices = slices
        self.base = base
        self.inner_folds = inner_folds
        self.seed = seed
        self.base_options = base_options
        self.meta_search = meta_search

    def fit(self, X, y, groups=None):
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import validate_data

        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, counts = np.unique(y, return_counts=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"NestedStacking needs at least 2 classes in the training rows, got "
                f"{len(self.classes_)} class"
            )
        splits = inner_splits(y, groups, self.inner_folds, self.seed)
        if splits is None:  # the meta-model's inner CV needs each class on both sides
            unit = "videos" if groups is None else "groups"
            raise NotEvaluated(
                f"late-stack needs 2 training {unit} of every class for its inner "
                f"cross-validation; class {self.classes_[counts.argmin()]!r} has too few in a "
                "training fold"
            )
        meta = nested(meta_classifier(self.seed), self.meta_search, seed=self.seed, cv=splits)
        slices = self.slices or {"all": (0, X.shape[1])}
        self.stack_ = stacking_estimator(
            slices,
            {name: self.base for name in slices},
            seed=self.seed,
            inner_folds=splits,
            meta=meta,
            base_options=self.base_options,
        ).fit(X, y)
        final = self.stack_.final_estimator_
        self.search_ = final if isinstance(final, NestedSearch) else None
        return self

    def predict_proba(self, X):
        from sklearn.utils.validation import validate_data

        check_is_fitted(self)
        return self.stack_.predict_proba(validate_data(self, X, reset=False))

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def predict_default(self, X):
        """The fixed meta-model's predictions (fitted on the same meta-features), or None
        without a meta search."""
        from sklearn.utils.validation import validate_data

        check_is_fitted(self)
        if self.search_ is None:
            return None
        Z = self.stack_.transform(validate_data(self, X, reset=False))
        # the stack trains its meta-model on encoded labels (0..k-1, in classes_ order)
        return self.stack_.classes_[np.asarray(self.search_.predict_default(Z), dtype=int)]
