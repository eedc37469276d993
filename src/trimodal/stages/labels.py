"""The labels stage: one named label set (results/labels/<set>.tsv) from the sheet's labels,
merged classes, a language filter, or a zero-shot relabelling of the descriptions."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from trimodal.plumbing.atomic import write_json, write_table
from trimodal.store import features as store

log = logging.getLogger("trimodal")


def rows_frame(rows: dict) -> pd.DataFrame:
    """The sheet's columns a label set reads, from the job's params (``{"columns": [...],
    "rows": {video_id: [values]}}``): the sheet itself is no job's input."""
    df = pd.DataFrame.from_dict(
        {vid: list(v) for vid, v in rows["rows"].items()},
        orient="index",
        columns=list(rows["columns"]),
        dtype=object,
    )
    df = df.fillna("").astype(str)
    df.insert(0, "video_id", df.index.astype(str))
    return df.reset_index(drop=True)


def make_label_set(
    sheet: str | pd.DataFrame,
    spec: dict,
    output: str,
    language_store: str | None = None,
    probs_out: str | None = None,
    report_out: str | None = None,
) -> pd.DataFrame:
    """results/labels/<set>.tsv (video_id, label) from the sheet's labels or by zero-shot.

    spec: from ("label" | "zeroshot"), merge {old: new}, min_count, language
    {keep: [en], min_probability} (needs a Whisper store) or {column: language, keep: [en]}
    (the sheet's column; an empty cell is an unknown language, kept), and for zero-shot: backend,
    model, candidates {label: description}, strategy, dominant, threshold.
    """
    from trimodal.labels.label_sets import merge_classes, normalise_spec

    spec = normalise_spec(spec)  # the labels it names, compared as the sheet's are
    df = sheet_rows(sheet)
    lang = spec.get("language", {}) or {}
    languages = label_languages(df, lang, language_store)
    labels = language_filtered(df, languages, lang)
    source = spec.get("from", "label")
    if source == "zeroshot":
        labels = zeroshot_labels(df, labels, spec, languages, lang, probs_out, report_out)
    elif source != "label":
        raise ValueError(f"label set source must be 'label' or 'zeroshot', not {source!r}")
    labels = merge_classes(labels, spec.get("merge", {}) or {})
    with_sheet_columns(labels, df)
    labels = drop_small_classes(labels, int(spec.get("min_count", 2)))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_table(output, labels, sep="\t", index=False)
    log.info("label set: %d videos, classes %s", len(labels), dict(labels["label"].value_counts()))
    return labels


def sheet_rows(sheet: str | pd.DataFrame) -> pd.DataFrame:
    """The sheet's rows: the frame a workflow job got as params, or the sheet file."""
    from trimodal.corpus.sheet import load_sheet

    if isinstance(sheet, pd.DataFrame):  # the rows a workflow job got as params
        return sheet
    return load_sheet(sheet, check_files=False).reset_index(drop=True)


def label_languages(df: pd.DataFrame, lang: dict, language_store: str | None):
    """(video_id, language[, language_probability]) from the Whisper store or the sheet's
    language column (the column wins); None without either."""
    languages = None
    if language_store:
        meta = store.load_meta(language_store).reset_index()
        languages = meta[[c for c in ("video_id", "language", "language_probability") if c in meta]]
    if lang.get("column"):  # the language is a column of the sheet (e.g. QuerYD's importer)
        languages = sheet_languages(df, lang["column"])
    return languages


def language_filtered(df: pd.DataFrame, languages, lang: dict) -> pd.DataFrame:
    """The sheet's labelled videos in the languages the set keeps."""
    from trimodal.labels.label_sets import base_labels

    return base_labels(
        df,
        languages=languages,
        keep_languages=lang.get("keep", ["en"]),
        min_language_probability=float(lang.get("min_probability", 0.0)),
    )


def zeroshot_labels(
    df: pd.DataFrame,
    labels: pd.DataFrame,
    spec: dict,
    languages,
    lang: dict,
    probs_out: str | None,
    report_out: str | None,
) -> pd.DataFrame:
    """(video_id, label) from a zero-shot relabelling of the descriptions (writing the
    probabilities and the relabel report when asked), kept to the set's languages."""
    from trimodal.labels.zeroshot import relabel, relabel_report, zero_shot_probs

    candidates = spec["candidates"]
    texts = df.set_index("video_id")["description"]
    texts = texts[texts.str.strip() != ""]
    probs = zero_shot_probs(
        texts,
        list(candidates),
        backend=spec.get("backend", "embedding"),
        model=spec.get("model"),
        label_descriptions=candidates if isinstance(candidates, dict) else None,
    )
    original = labels.set_index("video_id")["label"]
    new = relabel(
        probs,
        strategy=spec.get("strategy", "argmax"),
        dominant=spec.get("dominant"),
        threshold=float(spec.get("threshold", 0.2)),
        original=original,
    )
    if probs_out:
        write_table(probs_out, probs, sep="\t", index_label="video_id")
    if report_out:
        write_json(report_out, relabel_report(original, new), indent=1, default=str)
    new = new.dropna()
    if languages is not None:  # the language filter holds for relabelled videos too
        spoken = language_filtered(df.assign(label="any"), languages, lang)
        new = new[new.index.astype(str).isin(spoken["video_id"])]
    return pd.DataFrame({"video_id": new.index.astype(str), "label": new.to_numpy(dtype=str)})


def with_sheet_columns(labels: pd.DataFrame, df: pd.DataFrame) -> None:
    """Add the sheet's group and split of each video to labels (in place), where it has them."""
    if "group" in df.columns:  # clips cut from one source item stay in one CV fold
        groups = df.set_index("video_id")["group"]
        labels["group"] = groups.reindex(labels["video_id"]).fillna("").to_numpy(dtype=object)
    if "split" in df.columns:  # the official split, for the split protocol (trimodal.learn.cv)
        splits = df.set_index("video_id")["split"]
        labels["split"] = splits.reindex(labels["video_id"]).fillna("").to_numpy(dtype=object)


def drop_small_classes(labels: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """labels without the classes of fewer than min_count videos; warns when fewer than two
    classes are left (the set is written anyway: its evaluations say "not evaluated")."""
    counts = labels["label"].value_counts()
    dropped = counts[counts < min_count]
    if len(dropped):
        log.warning("dropping classes with fewer than %d videos: %s", min_count, dict(dropped))
        labels = labels[~labels["label"].isin(dropped.index)]
    if labels["label"].nunique() < 2:  # written anyway: its evaluations say "not evaluated"
        log.warning(
            "label set has %d videos in %d classes: nothing can be cross-validated on it",
            len(labels),
            labels["label"].nunique(),
        )
    return labels


def sheet_languages(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """(video_id, language) from a column of the sheet, for :func:`trimodal.labels.label_sets.base_labels`
    (a sheet's language is given, not detected: probability 1)."""
    if column not in df.columns:
        have = [c for c in df.columns if c != "description_flag"]
        raise ValueError(f"language column {column!r} is not in the sample sheet; it has {have}")
    return pd.DataFrame(
        {
            "video_id": df["video_id"].astype(str),
            "language": df[column].fillna("").astype(str).str.strip(),
        }
    )
