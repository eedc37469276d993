"""What each workflow job does, as plain functions (the scripts under workflow/scripts/ only
unpack the `snakemake` object and call these), so every job is testable without Snakemake.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from pathlib import Path
from typing import Any

import pandas as pd

from trimodal import store
from trimodal.extractors.base import ExtractionError, VideoItem, build_extractor
from trimodal.joblog import setup_logging  # noqa: F401 - re-exported for callers of jobs
from trimodal.limits import time_limit
from trimodal.probe import read_probe

log = logging.getLogger("trimodal")

#: stage of an error record for an optional input the video does not have (no AD track, no
#: description): kept in the store (coverage) but not listed in results/failures.tsv
ABSENT = "absent"


def pick_device(device: str) -> str:
    """ "auto" → "cuda" when a GPU is visible to this job, else "cpu"."""
    if device != "auto":
        return device
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def _needs_media(modality: str, params: dict) -> str | None:
    """Which probe an extractor depends on: "video", "ad_audio", or None for text."""
    if modality == "text":
        return None
    if modality == "audio" and params.get("source", "soundtrack") == "ad_audio":
        return "ad_audio"
    return "video"


def extract_one(
    *,
    video_id: str,
    row: dict[str, Any],
    probe_json: str,
    output: str,
    extractor: str,
    kind: str,
    modality: str,
    model: str | None,
    params: dict,
    device: str = "auto",
    text_inputs: dict[str, str] | None = None,
    mem_mb: float | None = None,
    timeout_s: float | None = None,
) -> bool:
    """Run one extractor on one video; write features or an error record. True when ok.

    A failure to *load* the model is a configuration problem and raises (every video would
    fail the same way); a failure on this video's input becomes an error record.
    """
    probes = read_probe(probe_json)
    item = VideoItem(
        video_id=video_id,
        video=row.get("video") or None,
        ad_audio=row.get("ad_audio") or None,
        description=row.get("description") or None,
        label=row.get("label") or None,
        probe=probes.get("video") or {},
        ad_probe=probes.get("ad_audio") or {},
    )
    header = {"extractor": extractor, "kind": kind, "modality": modality, "params": params}
    error = None
    need = _needs_media(modality, params)
    if need == "video" and not item.probe.get("ok"):
        error = ("probe", f"video unreadable: {item.probe.get('reason', 'unknown')}")
    elif need == "ad_audio" and not item.ad_audio:
        error = (ABSENT, "no ad_audio track in the sample sheet")
    elif need == "ad_audio" and not item.ad_probe.get("ok"):
        error = ("probe", f"ad_audio unreadable: {item.ad_probe.get('reason', 'unknown')}")
    elif need == "video" and modality == "audio" and not item.probe.get("audio"):
        error = ("decode", "no audio stream in the video file")
    elif need == "video" and modality == "video" and not item.probe.get("video"):
        error = ("decode", "no video stream in the file")

    for source, path in (text_inputs or {}).items():
        if os.path.isdir(path):  # a batched producer: its batch folder holds this video's file
            path = os.path.join(path, f"{video_id}.h5")
        try:
            data = store.read_video_file(path)
        except OSError as e:
            log.warning("%s: text source %s unreadable: %s", video_id, source, e)
            continue
        if data["attrs"].get("ok") and data.get("text"):
            item.texts[source] = data["text"]

    if error is None and modality == "text" and "sources" in params:
        from trimodal.text_sources import gather_text

        try:  # no text at all: say so without importing the model
            gather_text(item, list(params["sources"]))
        except ExtractionError as e:
            error = (e.stage, e.reason)

    # provenance without importing the extractor's back-end (an error record needs no model)
    from trimodal.models import describe_model

    header.update({"model": model or "", **describe_model(model)})
    # where the job ran (per-video file only; stores keep model/params, not hosts)
    header["slurm_job_id"] = os.environ.get("SLURM_JOB_ID", "")
    if error is None:
        ex = _extractor(kind, model, params, pick_device(device))
        try:
            with time_limit(timeout_s, f"{extractor} on {video_id}"):
                features = ex.extract(item)
        except ExtractionError as e:
            error = (e.stage, e.reason)
        except Exception as e:  # noqa: BLE001 - one bad video must never kill the run
            log.error("%s: %s failed:\n%s", video_id, extractor, traceback.format_exc())
            error = ("extract", f"{type(e).__name__}: {e}")
    if error is not None:
        log.warning("%s: %s: error record (%s: %s)", video_id, extractor, *error)
        store.write_video_file(output, video_id, header, error=error)
        return False
    store.write_video_file(output, video_id, header, features=features)
    log.info("%s: %s ok", video_id, extractor)
    return True


#: extractors built in this process, by (kind, model, params, device): a batch job loads its
#: model once for all its videos
_EXTRACTORS: dict[tuple, Any] = {}


def _extractor(kind: str, model: str | None, params: dict, device: str):
    key = (kind, model, json.dumps(params, sort_keys=True, default=str), device)
    if key not in _EXTRACTORS:
        ex = build_extractor(kind, model, params, device=device)
        ex.ensure_loaded()  # raises on a broken model: a config problem, not a bad video
        _EXTRACTORS[key] = ex
    return _EXTRACTORS[key]


def extract_files(
    video_id: str, files: dict, output: str, description: str | None = None, **common
) -> bool:
    """:func:`extract_one` from a job's named input files (probe, video, ad_audio,
    text_<source>); `common`: the rest of extract_one's arguments."""
    return extract_one(
        video_id=video_id,
        row={
            "video": files.get("video"),
            "ad_audio": files.get("ad_audio"),
            "description": description,
        },
        probe_json=files["probe"],
        output=output,
        text_inputs={k[5:]: f for k, f in files.items() if k.startswith("text_")},
        **common,
    )


def extract_batch(videos: list[dict], **common) -> int:
    """Run one extractor on a batch of videos, loading its model once; returns how many ok.

    `videos`: per video, the arguments of :func:`extract_files` (``video_id``, ``files``,
    ``output``, ``description``). Each video gets its own features or error record, exactly as
    in a per-video job.
    """
    n_ok = sum(extract_files(**v, **common) for v in videos)
    log.info("batch of %d videos: %d ok, %d error records", len(videos), n_ok, len(videos) - n_ok)
    return n_ok


def aggregate_store(inputs: list[str], output: str, extractor: str, spec: dict) -> dict:
    header = {
        "extractor": extractor,
        "kind": spec["kind"],
        "modality": spec["modality"],
        "model": spec.get("model") or "",
        "params": spec.get("params", {}),
    }
    counts = store.aggregate(inputs, output, header=header)
    log.info("%s: %d videos, %d failed", extractor, counts["n_videos"], counts["n_failed"])
    return counts


def collect_failures(probe_jsons: list[str], stores: dict[str, str], output: str) -> pd.DataFrame:
    """One table of everything that failed: probe problems and each extractor's error records."""
    rows = []
    for path in probe_jsons:
        info = json.loads(Path(path).read_text())
        for media in ("video", "ad_audio"):
            p = info.get(media)
            if p and not p.get("ok"):
                rows.append((info["video_id"], "probe", media, p.get("reason", "")))
    for extractor, path in sorted(stores.items()):
        for r in store.load_failures(path).itertuples(index=False):
            if r.stage != ABSENT:  # a missing optional input is a coverage gap, not a failure
                rows.append((r.video_id, r.stage, extractor, r.reason))
    df = pd.DataFrame(rows, columns=["video_id", "stage", "where", "reason"])
    df = df.sort_values(["video_id", "stage", "where"], kind="stable")
    tmp = Path(output + ".tmp")
    df.to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, output)
    return df


def probe_video(video_id: str, video: str | None, ad_audio: str | None, output: str) -> dict:
    from trimodal.probe import probe

    info = {
        "video_id": video_id,
        "video": probe(video),
        "ad_audio": probe(ad_audio) if ad_audio else None,
    }
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(output + ".tmp")
    tmp.write_text(json.dumps(info, indent=1, sort_keys=True, default=str))
    os.replace(tmp, output)
    return info


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
            probs.to_csv(probs_out, sep="\t", index_label="video_id")
        if report_out:
            Path(report_out).write_text(
                json.dumps(relabel_report(original, new), indent=1, default=str)
            )
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
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    labels.to_csv(output, sep="\t", index=False)
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
    """A transformer fine-tuned per fold on raw text (kind `finetune`), as a CVResult."""
    import numpy as np

    from trimodal.classify import CVResult, align, load_feature_set, load_labels, score_fold
    from trimodal.finetune import finetune_cv

    texts, ids, modality = load_feature_set(feature_set, features_dir)
    texts, y, ids, _ = align(texts, ids, load_labels(labels_tsv))
    model = options.pop("model", "sentence-transformers/all-MiniLM-L6-v2")
    device = pick_device(options.pop("device", "auto"))
    proba, classes, info = finetune_cv(
        list(texts), y, model, folds=folds, seed=seed, device=device, **options
    )
    classes = np.asarray(classes, dtype=object)
    y_pred = classes[proba.argmax(axis=1)]
    fold = np.full(len(y), -1, dtype=np.int32)
    scores = {}
    for f in info:
        te = np.asarray(f["test_idx"])
        fold[te] = f["fold"]
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
        note=f"fine-tuned {model}",
        options={"model": model},
    )


def make_report(results: list[str], out_dir: str, label_set: str) -> dict:
    from trimodal.report import write_report

    return write_report(results, out_dir, label_set)


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


def crossmodal_pair(spec: dict, labels_tsv: str, features_dir: str, output: str) -> pd.DataFrame:
    from trimodal.crossmodal import run_pairs

    labels = pd.read_csv(labels_tsv, sep="\t", dtype=str, keep_default_na=False)
    df = run_pairs(spec, features_dir, labels[["video_id", "label"]])
    tmp = Path(output + ".tmp")
    df.to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, output)
    log.info("\n%s", df.to_string())
    return df


def crossmodal_summary(tables: list[str], outputs: dict[str, str]) -> pd.DataFrame:
    from trimodal.crossmodal import crossmodal_heatmap, crossmodal_table_md

    df = pd.concat([pd.read_csv(t, sep="\t") for t in tables], ignore_index=True)
    df.to_csv(outputs["csv"], index=False)
    Path(outputs["table"]).write_text(
        "# Cross-modal retrieval\n\nmean ± std over folds (chance in brackets)\n\n"
        + crossmodal_table_md(df)
        + "\n\n![best R@10 per pair](heatmap.png)\n"
    )
    crossmodal_heatmap(df, outputs["heatmap"])
    return df
