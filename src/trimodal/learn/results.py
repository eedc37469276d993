"""Cross-validation results: out-of-fold predictions, probabilities and per-fold scores, and
the result file (results/classify/... .h5, results/fuse/... .h5) that fusion, the report and
the explorer read.

The scores of a fold and the probabilities in a result's class order are computed here, once,
for every producer of a result (:func:`trimodal.learn.classify.run_cv`, late fusion).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from trimodal.learn.estimators import decision_proba
from trimodal.plumbing.atomic import atomic_h5
from trimodal.store.features import STR

#: the per-fold scores of every result (and of its majority-class baseline, ``baseline_<m>``)
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


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
    # what produced each input: feature set -> provenance of its store
    # (:func:`trimodal.store.feature_sets.read_provenance`)
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


# --------------------------------------------------------------------------- fold scores


def proba_in(est, X, classes: np.ndarray) -> np.ndarray:
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


def fold_scores(y_true, y_pred, classes) -> dict[str, float]:
    """The :data:`METRICS` of one fold's predictions."""
    with warnings.catch_warnings():  # a class absent from a small test fold is expected
        warnings.simplefilter("ignore")
        return {
            "accuracy": accuracy_score(y_true, y_pred),
            "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
            "macro_f1": f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0),
        }


def score_fold(scores: dict, y_train, y_test, y_pred, classes) -> None:
    """Append one fold's metrics, and the majority-class baseline's on the same fold."""
    for m, v in fold_scores(y_test, y_pred, classes).items():
        scores.setdefault(m, []).append(v)
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(y_train), 1)), y_train)
    base_pred = dummy.predict(np.zeros((len(y_test), 1)))
    for m, v in fold_scores(y_test, base_pred, classes).items():
        scores.setdefault(f"baseline_{m}", []).append(v)
