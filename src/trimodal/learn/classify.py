"""Cross-validation with out-of-fold predictions, and the CV result file.

Every classifier is a scikit-learn estimator built by name from the registry
(:data:`trimodal.learn.classifiers.CLASSIFIERS`), so cross-validation, fusion and the report treat a
linear SVM, an MLP, the PyTorch fusion network or a fine-tuned transformer the same way.
Everything that learns from data (scaling, TF-IDF vocabulary, resampling, fine-tuning) sits
inside the estimator and is therefore fitted on the training rows of each fold only.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler
from sklearn.utils.validation import has_fit_parameter

from trimodal.domain import FeatureSet
from trimodal.labels.label_sets import labelled_rows
from trimodal.learn.classifier_spec import ClassifierSpec
from trimodal.learn.classifiers import CLASSIFIERS
from trimodal.learn.cv import Folds, NotEvaluated, label_set_folds, make_folds
from trimodal.learn.estimators import decision_proba, to_dense, unit_rows
from trimodal.learn.training import given_validation, uses_validation
from trimodal.learn.tuning import NestedSearch, nested, searched
from trimodal.store.features import STR, atomic_h5, load_pooled, load_text, store_attrs

log = logging.getLogger(__name__)

METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


# --------------------------------------------------------------------------- estimators


def make_text_vectorizer(kind: str = "tfidf"):
    """The text front end: the raw-text extractor's vectorizer (TF-IDF or counts), one
    definition for classification and for the extractor."""
    from trimodal.extractors.text_raw import make_text_vectorizer as text_vectorizer

    return text_vectorizer(kind)


def make_classifier(
    name: str,
    *,
    seed: int = 0,
    text: str | None = None,
    scale: bool = True,
    class_weight: str | None = "balanced",
    proba: str = "softmax",
    rebalance: bool = False,
    **params: Any,
) -> BaseEstimator:
    """The registered classifier `name` (:data:`~trimodal.learn.classifiers.CLASSIFIERS`), with its
    scaler or text vectorizer in front.

    text: None for numeric matrices, or "tfidf" / "count" when X is a 1-D array of strings (the
    vectorizer is then the first step; no scaler, TF-IDF rows are already L2-normalised). A
    raw-text classifier (``finetune``) reads the strings itself, whatever `text` says.
    scale: False when the caller scales already (early fusion scales per block). The linear SVM
    also divides the standardised columns by sqrt(d) (:func:`~trimodal.learn.estimators.unit_rows`),
    so its C means the same at 12 and at 1,280 dimensions.
    rebalance: wrap everything in trimodal.learn.rebalance.RebalancedClassifier (resampling inside fit).
    params: passed to the model (e.g. C=10, hidden_layer_sizes=(64,)).
    """
    if name not in CLASSIFIERS:
        raise KeyError(f"unknown classifier {name!r}; known: {sorted(CLASSIFIERS)}")
    kind = CLASSIFIERS[name]
    model = kind.build(seed, class_weight, proba, params)
    steps: list[tuple[str, Any]] = []
    if text is not None and not kind.raw_text:  # a raw-text model reads the strings itself
        steps.append(("vectorize", make_text_vectorizer(text)))
        if kind.dense:
            steps.append(("dense", FunctionTransformer(to_dense, accept_sparse=True)))
    elif scale and kind.scaler in ("standard", "unit"):
        steps.append(("scale", StandardScaler()))
        if kind.scaler == "unit":
            steps.append(("unit", FunctionTransformer(unit_rows)))
    if kind.scaler == "minmax" and text is None:  # NB on counts needs non-negative inputs
        steps.append(("nonneg", MinMaxScaler(clip=True)))
    steps.append(("clf", model))
    pipe = Pipeline(steps)
    if not rebalance:
        return pipe
    from trimodal.learn.rebalance import RebalancedClassifier

    return RebalancedClassifier(pipe, seed)


# --------------------------------------------------------------------------- CV result


def selected_text(selection: dict[str, Any]) -> str:
    """The chosen settings per outer fold, e.g. "C=1 | C=10 | C=1 (inner 3-fold
    balanced_accuracy over C: [0.1, 1, 10])"; empty for fixed settings."""
    if not selection:
        return ""
    folds = []
    for f in selection.get("per_fold", []):
        chosen = ", ".join(f"{k}={v}" for k, v in f.get("params", {}).items())
        folds.append(chosen or "default")
    space = "; ".join(f"{k}: {v}" for k, v in selection.get("space", {}).items())
    how = f"inner {selection.get('inner_folds')}-fold {selection.get('scoring')} over {space}"
    return f"{' | '.join(folds)} ({how})"


_STR_ATTRS = (
    "feature_set",
    "classifier",
    "label_set",
    "kind",
    "modality",
    "note",
    "not_evaluated",
    "protocol",
)


@dataclass
class CVResult:
    """Out-of-fold predictions and per-fold scores of one (feature set, classifier) evaluation."""

    feature_set: str
    classifier: str
    classes: np.ndarray  # (k,) str, column order of `proba`
    ids: np.ndarray  # (n,) video ids
    y_true: np.ndarray  # (n,) str
    y_pred: np.ndarray  # (n,) str, out-of-fold
    proba: np.ndarray  # (n, k) out-of-fold probabilities
    fold: np.ndarray  # (n,) test fold of each row
    scores: dict[str, np.ndarray]  # per fold: METRICS, baseline_<metric>, fit_time_s
    label_set: str = ""
    kind: str = "single"  # single, or a fusion kind (trimodal.stages.fuse.FUSION_KINDS)
    modality: str = ""
    n_folds: int = 0
    folds_requested: int = 0
    seed: int = 0
    note: str = ""
    n_missing: int = 0  # labelled videos without features (not evaluated)
    options: dict[str, Any] = field(default_factory=dict)
    not_evaluated: str = ""  # the reason, when cross-validation was impossible (no scores)
    #: kfold, or split (trimodal.learn.cv: one fold, train -> test; rows = the test videos only)
    protocol: str = "kfold"
    # what produced each input: feature set -> provenance of its store (:func:`read_provenance`)
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
    # nested model selection (trimodal.learn.tuning): space, inner folds, scoring, and per outer
    # fold the chosen setting and its inner score; empty when the settings were fixed
    selection: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.feature_set} / {self.classifier}"

    @property
    def evaluated(self) -> bool:
        return not self.not_evaluated

    @property
    def folds(self) -> pd.Series:
        """The stored fold assignment: video id -> test fold (compare results with it)."""
        return pd.Series(self.fold, index=pd.Index(self.ids.astype(str), name="video_id"))

    @classmethod
    def skipped(cls, reason: str, *, feature_set: str, classifier: str, **kw: Any) -> CVResult:
        """A result that records why nothing was scored (a degenerate label or feature set)."""
        empty = np.array([], dtype=object)
        return cls(
            feature_set=feature_set,
            classifier=classifier,
            classes=empty,
            ids=empty,
            y_true=empty,
            y_pred=empty,
            proba=np.zeros((0, 0)),
            fold=np.array([], dtype=np.int32),
            scores={},
            not_evaluated=reason,
            **kw,
        )

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label_set": self.label_set,
            "kind": self.kind,
            "modality": self.modality,
            "feature_set": self.feature_set,
            "classifier": self.classifier,
            "n_videos": int(len(self.ids)),
            "n_classes": int(len(self.classes)),
            "protocol": self.protocol or "kfold",
            "n_folds": int(self.n_folds),
            "folds_requested": int(self.folds_requested),
            "seed": int(self.seed),
            "n_missing": int(self.n_missing),
        }
        fixed = (f"fixed_{m}" for m in METRICS if f"fixed_{m}" in self.scores)
        for m in (*METRICS, *(f"baseline_{m}" for m in METRICS), *fixed):
            v = np.asarray(self.scores.get(m, []), dtype=float)
            out[f"{m}_mean"] = float(v.mean()) if len(v) else float("nan")
            out[f"{m}_std"] = float(v.std()) if len(v) else float("nan")
        t = np.asarray(self.scores.get("fit_time_s", []), dtype=float)
        out["fit_time_s_mean"] = float(t.mean()) if len(t) else float("nan")
        out["fit_time_s_total"] = float(t.sum())
        out["note"] = self.note
        out["not_evaluated"] = self.not_evaluated
        out["selected"] = selected_text(self.selection)
        prov = list(self.provenance.values())
        out["stores"] = "+".join(str(p.get("store", "")) for p in prov)
        out["models"] = "+".join(str(p.get("model", "")) or "-" for p in prov)
        out["weights_sha256"] = "+".join(str(p.get("weights_sha256", "")) or "-" for p in prov)
        return out

    def to_h5(self, path: str | os.PathLike) -> None:
        with atomic_h5(path) as h5:
            for key in _STR_ATTRS:
                h5.attrs[key] = getattr(self, key)
            for key in ("n_folds", "folds_requested", "seed", "n_missing"):
                h5.attrs[key] = int(getattr(self, key))
            h5.attrs["options"] = json.dumps(self.options, sort_keys=True, default=str)
            h5.attrs["provenance"] = json.dumps(self.provenance, sort_keys=True, default=str)
            h5.attrs["selection"] = json.dumps(self.selection, sort_keys=True, default=str)
            for key in ("classes", "ids", "y_true", "y_pred"):
                h5.create_dataset(
                    key, data=np.asarray(getattr(self, key)).astype(str).astype(object), dtype=STR
                )
            h5.create_dataset("proba", data=np.asarray(self.proba, dtype=np.float64))
            h5.create_dataset("fold", data=np.asarray(self.fold, dtype=np.int32))
            g = h5.create_group("scores")
            for key, values in self.scores.items():
                g.create_dataset(key, data=np.asarray(values, dtype=np.float64))

    @classmethod
    def from_h5(cls, path: str | os.PathLike) -> CVResult:
        with h5py.File(path, "r") as h5:
            a = dict(h5.attrs)
            strs = {
                k: np.asarray(h5[k].asstr()[()], dtype=object)
                for k in ("classes", "ids", "y_true", "y_pred")
            }
            return cls(
                **strs,
                proba=h5["proba"][()],
                fold=h5["fold"][()],
                scores={k: ds[()] for k, ds in h5["scores"].items()},
                **{k: str(a.get(k, "")) for k in _STR_ATTRS if k != "protocol"},
                protocol=str(a.get("protocol", "kfold")),
                **{k: int(a[k]) for k in ("n_folds", "folds_requested", "seed", "n_missing")},
                options=json.loads(a.get("options", "{}")),
                provenance=json.loads(a.get("provenance", "{}")),
                selection=json.loads(a.get("selection", "{}")),
            )


# --------------------------------------------------------------------------- cross-validation


def _take(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def _proba_in(est, X, classes: np.ndarray) -> np.ndarray:
    """Probabilities in the global class order (a class absent from training gets 0)."""
    est_classes = np.asarray(est.classes_).astype(str)
    if hasattr(est, "predict_proba"):
        p = np.asarray(est.predict_proba(X), dtype=float)
    elif hasattr(est, "decision_function"):
        p = decision_proba(est.decision_function(X))
    else:
        pred = np.asarray(est.predict(X)).astype(str)
        p = (pred[:, None] == est_classes[None, :]).astype(float)
    out = np.zeros((p.shape[0], len(classes)))
    col = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(est_classes):
        out[:, col[c]] = p[:, j]
    return out


def _fold_scores(y_true, y_pred, classes) -> dict[str, float]:
    with warnings.catch_warnings():  # a class absent from a small test fold is expected
        warnings.simplefilter("ignore")
        return {
            "accuracy": accuracy_score(y_true, y_pred),
            "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
            "macro_f1": f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0),
        }


def score_fold(scores: dict, y_train, y_test, y_pred, classes) -> None:
    """Append one fold's metrics, and the majority-class baseline's on the same fold."""
    for m, v in _fold_scores(y_test, y_pred, classes).items():
        scores.setdefault(m, []).append(v)
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(y_train), 1)), y_train)
    base_pred = dummy.predict(np.zeros((len(y_test), 1)))
    for m, v in _fold_scores(y_test, base_pred, classes).items():
        scores.setdefault(f"baseline_{m}", []).append(v)


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
    if isinstance(classifier, str):
        template = make_classifier(classifier, seed=seed, **opts)
        name = classifier_name or classifier
    else:
        template = classifier
        name = classifier_name or type(classifier).__name__
    classes = np.unique(y.astype(str)).astype(object)
    fset = folds if isinstance(folds, Folds) else make_folds(ids, y, groups, folds, seed)
    splits = fset.splits(ids, y)
    # split protocol: a learner that early-stops also gets the val rows to stop on
    val = fset.val_rows(ids) if uses_validation(template) else np.array([], dtype=int)

    n, k = len(y), len(classes)
    y_pred = np.empty(n, dtype=object)
    proba = np.full((n, k), np.nan)
    fold_of = np.full(n, -1, dtype=np.int32)
    scores: dict[str, list[float]] = {
        key: [] for key in (*METRICS, *(f"baseline_{m}" for m in METRICS), "fit_time_s")
    }
    selection: dict[str, Any] = {}
    g = None if groups is None else np.asarray(groups, dtype=object)
    for f, tr, te in splits:
        est = clone(template)
        t0 = time.perf_counter()
        rows = np.concatenate([tr, val]) if len(val) else tr
        # an estimator with an inner CV (a nested search, late-stack) keeps groups together
        fit_kw = {"groups": g[rows]} if g is not None and has_fit_parameter(est, "groups") else {}
        if len(val):
            with given_validation(np.isin(rows, val)):
                est.fit(_take(X, rows), y[rows], **fit_kw)
        else:
            est.fit(_take(X, tr), y[tr], **fit_kw)
        scores["fit_time_s"].append(time.perf_counter() - t0)
        y_pred[te] = np.asarray(est.predict(_take(X, te))).astype(str)
        proba[te] = _proba_in(est, _take(X, te), classes)
        fold_of[te] = f
        score_fold(scores, y[tr], y[te], y_pred[te], classes)
        if (search := searched(est)) is not None:
            fixed = est.predict_default(_take(X, te))
            _record_selection(selection, search, f, scores, fixed, y[te], classes)
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
        options={
            k: v
            for k, v in (opts if options is None else options).items()
            if isinstance(v, (str, int, float, bool))
        },
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
        for m, v in _fold_scores(y_te, pred, classes).items():
            scores.setdefault(f"fixed_{m}", []).append(v)


# --------------------------------------------------------------------------- inputs


def load_labels(path: str | os.PathLike) -> pd.DataFrame:
    """A label set TSV: video_id, label[, group], all as plain Python strings."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = {"video_id", "label"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    df = df[df["label"].str.len() > 0]
    return df.astype(object).reset_index(drop=True)


def coverage(ids, labels_df: pd.DataFrame) -> dict[str, int]:
    """How many labelled videos have features, and how many lack them."""
    have, labelled = set(map(str, ids)), set(map(str, labels_df["video_id"]))
    return {
        "n_labelled": len(labelled),
        "n_with_features": len(labelled & have),
        "n_missing_features": len(labelled - have),
        "n_unlabelled_features": len(have - labelled),
    }


def align(X, ids, labels_df: pd.DataFrame):
    """(X, y, ids, groups) on the videos that have both features and a label (store order).

    Labelled videos without features are logged by count (see :func:`coverage`), not an error.
    groups is None when the label set has no `group` column.
    """
    ids = np.asarray(ids).astype(str)
    keep, rows = labelled_rows(ids, labels_df)
    cov = coverage(ids, labels_df)
    if cov["n_missing_features"]:
        log.warning(
            "%d labelled videos have no features; evaluated on %d",
            cov["n_missing_features"],
            len(keep),
        )
    y = rows["label"].to_numpy(dtype=object)
    groups = rows["group"].to_numpy(dtype=object) if "group" in rows.columns else None
    return _take(X, keep), y, ids[keep].astype(object), groups


def _store_of(feature_set: str, features_dir: str | os.PathLike) -> Path:
    return Path(FeatureSet.parse(feature_set).store(str(features_dir)))


def load_feature_set(feature_set: str, features_dir: str | os.PathLike = "results/features"):
    """(X, ids, modality) for "<extractor>:<pooling>"; ":text" gives a 1-D array of strings.

    A store without any video (every video failed, or none has this input) raises
    :class:`~trimodal.learn.cv.NotEvaluated`.
    """
    pooling = FeatureSet.parse(feature_set).pooling
    path = _store_of(feature_set, features_dir)
    attrs = store_attrs(path)
    modality = str(attrs.get("modality", ""))
    if int(attrs.get("n_videos", 1)) == 0:
        raise NotEvaluated(f"the store {path.name} holds no video")
    if pooling == "text":
        s = load_text(path)
        return np.asarray(s.to_numpy(), dtype=object), s.index.to_numpy(dtype=object), modality
    X, ids = load_pooled(path, pooling)
    return X, ids, modality


PROVENANCE_KEYS = ("extractor", "kind", "model", "weights_sha256", "params", "code", "packages")


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """What produced a store: its `provenance` attribute (extractor, kind, model,
    weights_sha256, params, code, packages), plus `store` (the file name).

    A store written before stores carried provenance gives what it has (extractor, kind,
    model, params) and empty fields for the rest.
    """
    attrs = store_attrs(path)
    raw = attrs.get("provenance")
    if raw:
        prov = json.loads(raw) if isinstance(raw, (str, bytes)) else dict(raw)
    else:
        prov = {k: attrs.get(k, "") for k in ("extractor", "kind", "model")}
        prov.update(weights_sha256="", params=attrs.get("params", {}), code="", packages={})
    return {"store": Path(path).name, **{k: prov.get(k, "") for k in PROVENANCE_KEYS}, **prov}


def feature_set_provenance(feature_set: str, features_dir: str | os.PathLike) -> dict[str, Any]:
    return read_provenance(_store_of(feature_set, features_dir))


def feature_set_modality(feature_set: str, features_dir: str | os.PathLike) -> str:
    return str(store_attrs(_store_of(feature_set, features_dir)).get("modality", ""))


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
        X, ids, modality = load_feature_set(feature_set, features_dir)
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
