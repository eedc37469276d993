"""The one place cross-validation folds are made, so every number of a report shares them.

Folds belong to a label set, not to an evaluation: :func:`label_set_folds` assigns each video
of the label set one test fold (StratifiedGroupKFold when the set has a non-empty ``group``
column, so the clips of one source item never straddle train and test; StratifiedKFold
otherwise), from the label set, the seed and the groups only. The order of the rows does not
matter (videos are sorted by id first). Each evaluation (classifiers, the fine-tuned
transformer, early / intermediate / late fusion, cross-modal mapping) then restricts that
assignment to the videos it covers, so a video is tested in the same fold everywhere and late
fusion can reuse its base results' folds.

A label set or feature set that cannot be cross-validated (fewer than two classes among the
covered videos, too few videos for two folds) raises :class:`NotEvaluated`; the jobs turn it
into a result marked "not evaluated: <reason>" that the report prints instead of a score.

Two protocols (``classify.cv.protocol``, ``crossmodal.protocol``): ``kfold`` (the above) and
``split``, the official split of the sheet's ``split`` column (QuerYD's train/val/test lists):
one "fold" whose test rows are the ``test`` videos (fold 0) and whose training rows are the
``train`` videos (:data:`TRAIN`); the ``val`` videos (:data:`VAL`) are neither trained on nor
scored, and serve the learners that early-stop (trimodal.learn.training.validation_split); videos
without a split value (:data:`UNUSED`) take no part. Pass ``folds="split"`` where a number of
folds is expected (:func:`label_set_folds`) to get it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

#: the protocols a label set or the cross-modal stage can be scored with
PROTOCOLS = ("kfold", "split")
#: fold codes of the split protocol's non-test rows (test rows: fold 0)
TRAIN, VAL, UNUSED = -1, -2, -3


class NotEvaluated(ValueError):
    """Cross-validation is impossible here; reported with its reason, never scored."""

    def __init__(self, reason: str):
        if not reason.startswith("not evaluated"):
            reason = f"not evaluated: {reason}"
        super().__init__(reason)
        self.reason = reason


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}es" if word.endswith("s") else f"{n} {word}s"


def group_keys(groups, ids=None) -> np.ndarray | None:
    """Group of each row as a string; a row without a group (empty) is a group of its own
    (named by its id, or its position). None when no row has a group."""
    if groups is None:
        return None
    g = pd.Series(list(groups), dtype=object).fillna("").astype(str).str.strip()
    g = g.to_numpy(dtype=object)
    if not (g != "").any():
        return None
    own = np.arange(len(g)).astype(str) if ids is None else np.asarray(ids).astype(str)
    return np.where(g == "", np.char.add("\x00", own.astype(str)), g).astype(object)


def splitter(n_splits: int, grouped: bool, seed: int = 0):
    """The one cross-validation splitter of the package, outer and inner: stratified,
    StratifiedGroupKFold when the rows have groups, shuffled by `seed`."""
    cls = StratifiedGroupKFold if grouped else StratifiedKFold
    return cls(n_splits=n_splits, shuffle=True, random_state=seed)


def _fold_limit(y: np.ndarray, g: np.ndarray | None) -> tuple[int, str]:
    """How many folds the smallest class allows: its rows, or its groups when grouped."""
    classes = np.unique(y)
    if g is None:
        return min(int((y == c).sum()) for c in classes), "video"
    return min(len(pd.unique(g[y == c])) for c in classes), "group"


def inner_cv(y, groups=None, folds: int = 3, seed: int = 0):
    """The inner folds of the rows a learner is fitted on (a nested search, late-stack's
    meta-features): :func:`splitter` with as many folds as the smallest class (or its groups)
    allows, at most `folds`; None when fewer than 2 are possible. Use its ``split(X, y,
    groups)``, or :func:`inner_splits` for the index pairs."""
    y = np.asarray(y).astype(str)
    g = group_keys(groups)
    n = min(int(folds), _fold_limit(y, g)[0]) if len(y) else 0
    return None if n < 2 else splitter(n, g is not None, seed)


def inner_splits(y, groups=None, folds: int = 3, seed: int = 0) -> list | None:
    """:func:`inner_cv`'s (train rows, test rows) pairs, or None when impossible: for
    estimators that take a list of splits but no groups (StackingClassifier's ``cv``)."""
    cv = inner_cv(y, groups, folds, seed)
    if cv is None:
        return None
    y = np.asarray(y).astype(str)
    return [(tr, te) for tr, te in cv.split(np.zeros(len(y)), y, group_keys(groups))]


@dataclass(frozen=True)
class Folds:
    """The test fold of every video of a label set (``fold``: video id -> fold index)."""

    fold: pd.Series
    folds_requested: int
    seed: int
    grouped: bool
    note: str = ""
    protocol: str = "kfold"

    @property
    def n_folds(self) -> int:
        return int(self.fold[self.fold >= 0].nunique())

    def of(self, ids) -> np.ndarray:
        """Test fold of each id (ids outside the label set are an error: they have no fold)."""
        ids = pd.Index(np.asarray(ids).astype(str))
        missing = ids.difference(self.fold.index)
        if len(missing):
            raise KeyError(
                f"{len(missing)} videos have no fold in this label set: {list(missing[:5])}"
            )
        return self.fold.reindex(ids).to_numpy(dtype=np.int32)

    def splits(self, ids, y=None) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(fold, train rows, test rows) for the rows `ids`, folds without test rows left out.

        With `y`, first checks that a classifier can be cross-validated on these rows
        (:func:`check_evaluable`).
        """
        fold = self.of(ids)
        if y is not None:
            check_evaluable(y, fold)
        return splits_from_assignment(fold)

    def val_rows(self, ids) -> np.ndarray:
        """The rows of `ids` that the split protocol keeps for early stopping (none in kfold)."""
        return np.flatnonzero(self.of(ids) == VAL)


def splits_from_assignment(fold) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(fold, train rows, test rows) of a stored fold assignment (one test fold per row).

    With the split protocol's codes (negative folds), the one test fold trains on the
    ``train`` rows only (:data:`TRAIN`)."""
    fold = np.asarray(fold)
    split = bool((fold < 0).any())
    return [
        (int(f), np.flatnonzero(fold == TRAIN if split else fold != f), np.flatnonzero(fold == f))
        for f in np.unique(fold[fold >= 0])
    ]


def check_evaluable(y, fold) -> None:
    """Raise :class:`NotEvaluated` unless every fold can train a classifier and score it."""
    y = np.asarray(y).astype(str)
    n = len(y)
    if n == 0:
        raise NotEvaluated("no video of the label set is covered")
    classes = np.unique(y)
    if len(classes) < 2:
        raise NotEvaluated(f"{_plural(len(classes), 'class')} among the {n} covered videos")
    fold = np.asarray(fold)
    used = np.unique(fold[fold >= 0])
    split = bool((fold < 0).any())
    if split and not len(used):
        raise NotEvaluated(f"no test video among the {n} covered videos (split protocol)")
    if not split and len(used) < 2:
        raise NotEvaluated(
            f"the {n} covered videos fall into {_plural(len(used), 'fold')} (need >= 2)"
        )
    for f in used:
        train = np.unique(y[fold == TRAIN if split else fold != f])
        if split and len(train) < 2:
            have = f"only class {train[0]!r}" if len(train) else "no video"
            raise NotEvaluated(
                f"the train videos of the split hold {have} ({n} covered videos, "
                f"{len(classes)} classes)"
            )
        if len(train) < 2:
            raise NotEvaluated(
                f"the training rows of fold {f} hold only class {train[0]!r} "
                f"({n} covered videos, {len(classes)} classes)"
            )


def make_folds(ids, y=None, groups=None, folds: int = 5, seed: int = 0) -> Folds:
    """Stratified (grouped when `groups` has any value) folds of the rows `ids`.

    The number of folds is reduced to what the smallest class allows (its videos, or its
    groups when grouped); fewer than two raises :class:`NotEvaluated`. y None: one class
    (unsupervised use, e.g. retrieval without labels).
    """
    ids = np.asarray(ids).astype(str)
    if len(pd.unique(ids)) != len(ids):
        raise ValueError("video ids must be unique to assign folds")
    y = np.zeros(len(ids), dtype=str) if y is None else np.asarray(y).astype(str)
    if len(y) != len(ids):
        raise ValueError(f"{len(ids)} ids but {len(y)} labels")
    g = group_keys(groups, ids)
    order = np.argsort(ids, kind="stable")  # the assignment must not depend on row order
    ids_s, y_s = ids[order], y[order]
    g_s = None if g is None else g[order]
    if len(ids) == 0:
        raise NotEvaluated("no videos")
    limit, what = _fold_limit(y_s, g_s)
    notes, n_splits = [], folds
    if limit < folds:
        n_splits = limit
        notes.append(
            f"folds reduced from {folds} to {n_splits}: smallest class has {_plural(limit, what)}"
        )
    if n_splits < 2:
        raise NotEvaluated(
            f"cannot cross-validate: smallest class has {_plural(limit, what)} (need >= 2)"
        )
    cv = splitter(n_splits, g_s is not None, seed)
    if g_s is not None:
        notes.append("grouped folds (StratifiedGroupKFold)")
    parts = cv.split(np.zeros(len(y_s)), y_s, g_s)
    fold_s = np.full(len(ids_s), -1, dtype=np.int32)
    for f, (_, te) in enumerate(parts):
        fold_s[te] = f
    return Folds(
        fold=pd.Series(fold_s, index=pd.Index(ids_s, name="video_id"), name="fold"),
        folds_requested=folds,
        seed=seed,
        grouped=g_s is not None,
        note="; ".join(notes),
    )


def split_folds(ids, splits, seed: int = 0) -> Folds:
    """The split protocol's one fold from each video's official split (train, val, test or
    empty): test rows fold 0, the others :data:`TRAIN`, :data:`VAL`, :data:`UNUSED`."""
    ids = np.asarray(ids).astype(str)
    s = pd.Series(splits, dtype=object).fillna("").astype(str).str.strip().to_numpy(dtype=object)
    bad = sorted(set(s) - {"train", "val", "test", ""})
    if bad:
        raise ValueError(f"split values must be train, val, test or empty, not {bad}")
    codes = {"test": 0, "train": TRAIN, "val": VAL, "": UNUSED}
    fold = np.array([codes[v] for v in s], dtype=np.int32)
    counts = {k: int((s == k).sum()) for k in ("train", "val", "test")}
    note = "official split: " + ", ".join(f"{v} {k}" for k, v in counts.items())
    if (s == "").any():
        note += f", {int((s == '').sum())} without a split (unused)"
    return Folds(
        fold=pd.Series(fold, index=pd.Index(ids, name="video_id"), name="fold"),
        folds_requested=1,
        seed=seed,
        grouped=False,
        note=note,
        protocol="split",
    )


def label_set_folds(
    labels: pd.DataFrame, folds: int | str = 5, seed: int = 0, min_classes: int = 2
) -> Folds:
    """The folds of a label set table (video_id, label[, group][, split]): what every
    evaluation uses. ``folds="split"``: the split protocol (:func:`split_folds`, from the
    table's ``split`` column).

    min_classes: 2 for classification; retrieval (cross-modal mapping) also runs on one class.
    """
    n = len(labels)
    if n == 0:
        raise NotEvaluated(
            "the label set has no videos (none labelled, or every class below min_count)"
        )
    k = labels["label"].nunique()
    if k < min_classes:
        raise NotEvaluated(f"{_plural(k, 'class')} among the {n} videos of the label set")
    if folds == "split":
        if "split" not in labels.columns:
            raise NotEvaluated("the split protocol needs a split column in the sample sheet")
        return split_folds(labels["video_id"], labels["split"], seed)
    groups = labels["group"].to_numpy(dtype=object) if "group" in labels.columns else None
    return make_folds(labels["video_id"], labels["label"], groups, int(folds), seed)


def protocol_folds(cv: dict) -> int | str:
    """What to pass as ``folds`` for a ``cv`` config ({protocol, folds, seed}): the number of
    folds, or "split"."""
    return "split" if cv.get("protocol", "kfold") == "split" else int(cv.get("folds", 5))


def agreed_folds(assignments: dict[str, pd.Series]) -> pd.Series:
    """One fold per video from several stored assignments (name -> Series id -> fold).

    On the videos they share, every assignment must give the same fold (results scored on
    the same folds); otherwise a ValueError names the first disagreement. Returns the folds of
    the shared videos.
    """
    names = list(assignments)
    if not names:
        raise ValueError("no fold assignments given")
    shared = assignments[names[0]].index.astype(str)
    for name in names[1:]:
        shared = shared.intersection(assignments[name].index.astype(str), sort=False)
    ref = assignments[names[0]].set_axis(assignments[names[0]].index.astype(str))
    ref = ref.reindex(shared)
    for name in names[1:]:
        other = assignments[name].set_axis(assignments[name].index.astype(str)).reindex(shared)
        diff = ref.to_numpy() != other.to_numpy()
        if diff.any():
            vid = shared[np.flatnonzero(diff)[0]]
            raise ValueError(
                f"{name} was scored on other folds than {names[0]}: {int(diff.sum())} of "
                f"{len(shared)} shared videos differ (e.g. {vid}: fold {other[vid]} vs "
                f"{ref[vid]}); rerun them with the same label set, folds and seed"
            )
    return ref.astype(np.int32)


__all__ = [
    "PROTOCOLS",
    "TRAIN",
    "UNUSED",
    "VAL",
    "Folds",
    "NotEvaluated",
    "agreed_folds",
    "check_evaluable",
    "group_keys",
    "inner_cv",
    "inner_splits",
    "label_set_folds",
    "make_folds",
    "protocol_folds",
    "split_folds",
    "splitter",
    "splits_from_assignment",
]
