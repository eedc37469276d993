"""What each workflow job does, as plain functions (the scripts under workflow/scripts/ only
unpack the `snakemake` object and call these), so every job is testable without Snakemake.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from trimodal import store  # noqa: F401 - kept for callers of trimodal.jobs.store
from trimodal.atomic import write_json, write_table, write_text
from trimodal.device import pick_device
from trimodal.joblog import setup_logging
from trimodal.stages.extract import ABSENT, extract_batch, extract_files, extract_one
from trimodal.stages.probe import probe_video
from trimodal.stages.store import aggregate_store, collect_failures

__all__ = [
    "ABSENT",
    "aggregate_store",
    "collect_failures",
    "extract_batch",
    "extract_files",
    "extract_one",
    "pick_device",
    "probe_video",
    "setup_logging",
]

log = logging.getLogger("trimodal")


def make_label_set(
    sheet: str,
    spec: dict,
    output: str,
    language_store: str | None = None,
    probs_out: str | None = None,
    report_out: str | None = None,
) -> pd.DataFrame:
    """results/labels/<set>.tsv (video_id, label) from the sheet's labels or by zero-shot.

    spec: from ("label" | "zeroshot"), merge {old: new}, min_count, language
    {keep: [en], min_probability} (needs a Whisper store), and for zero-shot: backend,
    model, candidates {label: description}, strategy, dominant, threshold.
    """
    from trimodal.labels import base_labels, merge_classes
    from trimodal.sheet import load_sheet

    df = load_sheet(sheet, check_files=False).reset_index(drop=True)
    languages = None
    if language_store:
        meta = store.load_meta(language_store).reset_index()
        languages = meta[[c for c in ("video_id", "language", "language_probability") if c in meta]]
    lang = spec.get("language", {}) or {}
    labels = base_labels(
        df,
        languages=languages,
        keep_languages=lang.get("keep", ["en"]),
        min_language_probability=float(lang.get("min_probability", 0.0)),
    )
    source = spec.get("from", "label")
    if source == "zeroshot":
        from trimodal.zeroshot import relabel, relabel_report, zero_shot_probs

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
        labels = pd.DataFrame({"video_id": new.index.astype(str), "label": new.to_numpy(dtype=str)})
    elif source != "label":
        raise ValueError(f"label set source must be 'label' or 'zeroshot', not {source!r}")
    labels = merge_classes(labels, spec.get("merge", {}) or {})
    if "group" in df.columns:  # clips cut from one source item stay in one CV fold
        groups = df.set_index("video_id")["group"]
        labels["group"] = groups.reindex(labels["video_id"]).fillna("").to_numpy(dtype=object)
    min_count = int(spec.get("min_count", 2))
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
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_table(output, labels, sep="\t", index=False)
    log.info("label set: %d videos, classes %s", len(labels), dict(labels["label"].value_counts()))
    return labels


def classify_one(
    *,
    store_path: str,
    pooling: str,
    labels_tsv: str,
    label_set: str,
    classifier: str,
    cv: dict,
    options: dict,
    output: str,
):
    """Cross-validate one classifier on one feature set; write OOF predictions and metrics.

    options may name a `base` classifier (so that e.g. `ovr_linear_svc_rebalanced` is
    `ovr_linear_svc` with `rebalance: true`); `finetune` fine-tunes a transformer on raw text.
    """
    from trimodal.classify import evaluate_feature_set

    options = dict(options)
    base = options.pop("base", classifier)
    folds, seed = int(cv.get("folds", 5)), int(cv.get("seed", 0))
    feature_set = f"{Path(store_path).stem}:{pooling}"
    if base == "finetune":
        result = finetune_feature_set(
            feature_set, labels_tsv, label_set, Path(store_path).parent, folds, seed, options
        )
    else:
        result = evaluate_feature_set(
            feature_set,
            labels_tsv,
            base,
            features_dir=Path(store_path).parent,
            label_set=label_set,
            folds=folds,
            seed=seed,
            **options,
        )
    result.classifier = classifier
    result.to_h5(output)
    log.info("%s", result.summary())
    return result


def finetune_feature_set(feature_set, labels_tsv, label_set, features_dir, folds, seed, options):
    """A transformer fine-tuned per fold on raw text (kind `finetune`), as a CVResult, on the
    label set's folds (groups kept on one side) like every other evaluation."""
    import numpy as np

    from trimodal.classify import (
        CVResult,
        align,
        coverage,
        feature_set_modality,
        feature_set_provenance,
        load_feature_set,
        load_labels,
        score_fold,
    )
    from trimodal.cv import NotEvaluated, check_evaluable, label_set_folds
    from trimodal.finetune import finetune_cv
    from trimodal.models import describe_model

    options = dict(options)
    model = options.pop("model", "sentence-transformers/all-MiniLM-L6-v2")
    device = pick_device(options.pop("device", "auto"))
    labels = load_labels(labels_tsv)
    modality = feature_set_modality(feature_set, features_dir)
    weights = describe_model(model)
    provenance = {  # the text store, and the model that was fine-tuned on it
        feature_set: feature_set_provenance(feature_set, features_dir),
        f"{feature_set} (fine-tuned)": {
            "store": "",
            "extractor": "finetune",
            "kind": "finetune",
            "model": model,
            "weights_sha256": weights.get("model_fingerprint", ""),
            "params": dict(options),
            "code": "",
            "packages": {},
        },
    }
    n_missing = len(labels)
    try:
        texts, ids, modality = load_feature_set(feature_set, features_dir)
        n_missing = coverage(ids, labels)["n_missing_features"]
        fset = label_set_folds(labels, folds, seed)
        texts, y, ids, _ = align(texts, ids, labels)
        fold = fset.of(ids)
        check_evaluable(y, fold)  # before loading any model
    except NotEvaluated as e:
        log.warning("%s / finetune: %s", feature_set, e.reason)
        return CVResult.skipped(
            e.reason,
            feature_set=feature_set,
            classifier="finetune",
            label_set=label_set,
            modality=modality,
            folds_requested=folds,
            seed=seed,
            n_missing=n_missing,
            options={"model": model},
            provenance=provenance,
        )
    proba, classes, info = finetune_cv(
        list(texts), y, model, folds=folds, seed=seed, device=device, fold=fold, **options
    )
    classes = np.asarray(classes, dtype=object)
    y_pred = classes[proba.argmax(axis=1)]
    scores = {}
    for f in info:
        te = np.asarray(f["test_idx"])
        score_fold(scores, y[np.asarray(f["train_idx"])], y[te], y_pred[te], classes)
        scores.setdefault("fit_time_s", []).append(float(f.get("fit_time_s", 0.0)))
    return CVResult(
        feature_set=feature_set,
        classifier="finetune",
        classes=classes,
        ids=ids,
        y_true=y,
        y_pred=y_pred,
        proba=proba,
        fold=fold,
        scores={k: np.asarray(v) for k, v in scores.items()},
        label_set=label_set,
        modality=modality,
        n_folds=len(info),
        folds_requested=folds,
        seed=seed,
        note="; ".join(filter(None, [fset.note, f"fine-tuned {model}"])),
        n_missing=n_missing,
        options={"model": model},
        provenance=provenance,
    )


def make_report(results: list[str], out_dir: str, label_set: str) -> dict:
    from trimodal.report import write_report

    return write_report(results, out_dir, label_set)


def _check_label_set_folds(results, labels_tsv: str, folds: int, seed: int) -> None:
    """Base results must have been scored on this label set's folds (not a stale config)."""
    from trimodal.classify import load_labels
    from trimodal.cv import NotEvaluated, agreed_folds, label_set_folds

    try:
        fset = label_set_folds(load_labels(labels_tsv), folds, seed)
    except NotEvaluated:
        return  # then the base results are not evaluated either
    named = {f"base result {i + 1} ({r.name})": r.folds for i, r in enumerate(results)}
    agreed_folds({"the label set": fset.fold, **named})


def fuse_one(
    *,
    kind: str,
    feature_sets: list[str],
    labels_tsv: str,
    label_set: str,
    features_dir: str,
    classifier: str,
    cv: dict,
    options: dict,
    base_results: list[str],
    output: str,
):
    """One fusion evaluation: early (concatenation), intermediate (network), late:<method>."""
    from trimodal.classify import CVResult
    from trimodal.fusion import evaluate_blocks, evaluate_early, late_fusion_from_results

    folds, seed = int(cv.get("folds", 5)), int(cv.get("seed", 0))
    if kind == "early":
        result = evaluate_early(
            feature_sets,
            labels_tsv,
            classifier,
            features_dir,
            label_set,
            folds=folds,
            seed=seed,
            **options,
        )
    elif kind.startswith("late:"):
        results = [CVResult.from_h5(p) for p in base_results]
        if all(r.evaluated for r in results):
            _check_label_set_folds(results, labels_tsv, folds, seed)
        result = late_fusion_from_results(
            results, method=kind.split(":", 1)[1], folds=folds, seed=seed
        )
        result.kind = kind
    elif kind == "intermediate":
        from trimodal.fusion_net import IntermediateFusionClassifier

        device = pick_device(options.pop("device", "auto"))
        result = evaluate_blocks(
            feature_sets,
            labels_tsv,
            lambda slices: IntermediateFusionClassifier(
                block_slices=slices, seed=seed, device=device, **options
            ),
            features_dir,
            label_set,
            folds,
            seed,
            kind="intermediate",
            classifier_name="fusion_net",
        )
    else:
        raise ValueError(f"unknown fusion kind {kind!r}")
    result.to_h5(output)
    log.info("%s", result.summary())
    return result


def crossmodal_pair(
    spec: dict, labels_tsv: str, features_dir: str, output: str, folds_out: str | None = None
) -> pd.DataFrame:
    """Cross-modal retrieval of one pair on the label set's videos and folds (groups kept);
    the fold of each video goes to `folds_out` (default: <output stem>.folds.tsv)."""
    from trimodal.classify import load_labels
    from trimodal.crossmodal import run_pairs

    labels = load_labels(labels_tsv)
    df, folds = run_pairs(spec, features_dir, labels, with_folds=True)
    folds_out = folds_out or str(Path(output).with_suffix(".folds.tsv"))
    write_table(folds_out, folds, sep="\t", index=False)
    write_table(output, df, sep="\t", index=False)
    log.info("\n%s", df.to_string())
    return df


def crossmodal_summary(tables: list[str], outputs: dict[str, str]) -> pd.DataFrame:
    """The cross-modal table (Markdown and a self-contained HTML page, for `snakemake
    --report`), its CSV, the heatmap and the provenance of every store it read."""
    from trimodal.crossmodal import crossmodal_heatmap, crossmodal_table, row_provenance
    from trimodal.report import provenance_rows, render_html, render_markdown

    df = pd.concat([pd.read_csv(t, sep="\t") for t in tables], ignore_index=True)
    for col in ("note", "provenance"):  # text columns: empty, not NaN
        if col in df:
            df[col] = df[col].astype(object).where(df[col].notna(), "")
    write_table(outputs["csv"], df, index=False)
    crossmodal_heatmap(df, outputs["heatmap"])
    blocks = [
        ("h1", "Cross-modal retrieval"),
        ("p", "mean ± std over folds (chance in brackets)"),
        ("table", crossmodal_table(df)),
        ("p", "(chance level in brackets; mean ± std over CV folds)"),
        ("img", "best R@10 per pair", Path(outputs["heatmap"]).name),
        ("h2", "Provenance"),
        ("p", "What produced each store the rows above read (rows: the # of the table)."),
        ("table", provenance_rows(row_provenance(df))),
    ]
    root = Path(outputs["table"]).parent
    write_text(outputs["table"], render_markdown(blocks))
    if outputs.get("html"):
        write_text(outputs["html"], render_html(blocks, root, "Cross-modal retrieval"))
    return df
