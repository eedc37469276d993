"""Label sets: the sheet's labels, filtered and merged, the label set file read back, and the
one routine that aligns feature rows with them (rebalancing inside CV:
trimodal.learn.rebalance)."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from trimodal.corpus.sheet import normalise_label

log = logging.getLogger(__name__)


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
    df["label"] = df["label"].map(normalise_label)
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


def take_rows(X, idx):
    """Rows `idx` (positions) of a matrix, an array of strings or a DataFrame."""
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


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
    return take_rows(X, keep), y, ids[keep].astype(object), groups


def merge_classes(labels: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """Rename classes (e.g. ``{"Autos & Vehicles": "Travel & Events"}``); others unchanged.
    Keys and targets are compared as the sheet's labels are (:func:`normalise_label`)."""
    mapping = {normalise_label(k): normalise_label(v) for k, v in mapping.items()}
    out = labels.copy()
    out["label"] = out["label"].map(lambda v: mapping.get(normalise_label(v), v))
    return out


def normalise_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A label set's spec with every label it names written as the sheet's labels are: merge
    keys and targets, zero-shot candidates (list or dict keys) and ``dominant`` (one
    normalisation, :func:`normalise_label`, wherever a label is compared)."""
    out = dict(spec)
    if isinstance(out.get("merge"), dict):
        out["merge"] = {normalise_label(k): normalise_label(v) for k, v in out["merge"].items()}
    candidates = out.get("candidates")
    if isinstance(candidates, dict):
        out["candidates"] = {normalise_label(k): v for k, v in candidates.items()}
    elif isinstance(candidates, list):
        out["candidates"] = [normalise_label(c) for c in candidates]
    if isinstance(out.get("dominant"), str):
        out["dominant"] = normalise_label(out["dominant"])
    return out


# --------------------------------------------------------------------------- config check


def label_set_problems(name: str, spec: dict, *, extractors, sheet_columns=None) -> list[str]:
    """Every problem of label set `name` (``labels.sets.<name>``) a schema cannot see: a
    zero-shot set's candidates, drop_dominant's label, the language filter (an extractor of
    `extractors`, or a sheet column, not both), a label column in `sheet_columns` (None:
    unknown); :func:`label_merge_problems` checks its merge entries and threshold."""
    from trimodal.plumbing.config_problems import allowed, as_dict, did_you_mean, key_path

    out = []
    path = ("labels", "sets", name)
    source = spec.get("from", "label")
    if source == "zeroshot" and not spec.get("candidates"):
        out.append(f"{key_path(*path)}: a zero-shot label set needs candidates")
    if spec.get("strategy") == "drop_dominant" and not spec.get("dominant"):
        out.append(f"{key_path(*path, 'strategy')}: drop_dominant needs dominant: <label>")
    language = as_dict(spec.get("language")).get("extractor")
    if language and as_dict(spec.get("language")).get("column"):
        out.append(
            f"{key_path(*path, 'language')}: give either extractor (a detected "
            "language) or column (the sheet's), not both"
        )
    if isinstance(language, str) and language not in extractors:
        out.append(
            f"{key_path(*path, 'language', 'extractor')}: {language!r} is not a "
            f"configured extractor{did_you_mean(language, extractors)}; "
            f"configured: {allowed(list(extractors))}"
        )
    if source == "label" and sheet_columns is not None and "label" not in sheet_columns:
        out.append(
            f"{key_path(*path, 'from')}: 'label' needs a label column in the sample "
            f"sheet; it has: {allowed(sheet_columns)}"
        )
    return out


def label_merge_problems(name: str, spec: dict, sheet_labels=None) -> list[str]:
    """Label set `name`'s merge entries must name a label the set has (the zero-shot
    candidates, or `sheet_labels`: None, unknown); confident's threshold is a probability."""
    from trimodal.plumbing.config_problems import allowed, as_dict, did_you_mean, key_path

    out = []
    path, source = ("labels", "sets", name), spec.get("from", "label")
    candidates = spec.get("candidates")
    if source == "zeroshot":
        known = set(candidates) if isinstance(candidates, (dict, list)) else None
        where = "the zero-shot candidates"
    else:
        known, where = sheet_labels, "the sheet's labels"
    merged_names = {
        normalise_label(v) for v in as_dict(spec.get("merge")).values() if isinstance(v, str)
    }
    if known is not None:
        known = {normalise_label(k) for k in known}
        for old in as_dict(spec.get("merge")):
            if normalise_label(old) not in known and normalise_label(old) not in merged_names:
                out.append(
                    f"{key_path(*path, 'merge', old)}: no label {old!r} in {where}"
                    f"{did_you_mean(old, sorted(known))}; labels: {allowed(sorted(known))}"
                )
        dominant = spec.get("dominant")
        if (
            spec.get("strategy") == "drop_dominant"
            and isinstance(dominant, str)
            and source == "zeroshot"
            and normalise_label(dominant) not in known
        ):
            out.append(
                f"{key_path(*path, 'dominant')}: {dominant!r} is not a candidate"
                f"{did_you_mean(dominant, sorted(known))}; candidates: {allowed(sorted(known))}"
            )
    threshold = spec.get("threshold")
    if (
        spec.get("strategy") == "confident"
        and isinstance(threshold, (int, float))
        and not 0 < threshold <= 1
    ):
        out.append(
            f"{key_path(*path, 'threshold')}: {threshold!r} is out of range: the confident "
            "strategy keeps a relabelling when the runner-up's probability is below it, so it "
            "must be a probability in (0, 1]"
        )
    return out


def unknown_label_set_problems(path: str, name, label_sets: dict) -> list[str]:
    """A reference (``classify.label_sets[i]``, ``crossmodal.label_set``) to a label set that
    ``labels.sets`` does not define."""
    from trimodal.plumbing.config_problems import allowed, did_you_mean

    if isinstance(name, str) and name not in label_sets:
        return [
            f"{path}: unknown label set {name!r}{did_you_mean(name, label_sets)}; "
            f"defined in labels.sets: {allowed(list(label_sets))}"
        ]
    return []
