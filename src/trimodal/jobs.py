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
from trimodal.limits import time_limit
from trimodal.probe import read_probe

log = logging.getLogger("trimodal")

#: stage of an error record for an optional input the video does not have (no AD track, no
#: description): kept in the store (coverage) but not listed in results/failures.tsv
ABSENT = "absent"


def setup_logging(log_path: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True
    )


def pick_device(device: str) -> str:
    """"auto" → "cuda" when a GPU is visible to this job, else "cpu"."""
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

    for source, path in (text_inputs or {}).items():
        try:
            data = store.read_video_file(path)
        except OSError as e:
            log.warning("%s: text source %s unreadable: %s", video_id, source, e)
            continue
        if data["attrs"].get("ok") and data.get("text"):
            item.texts[source] = data["text"]

    ex = build_extractor(kind, model, params, device=pick_device(device))
    header.update(ex.model_attrs())
    # where the job ran (per-video file only; stores keep model/params, not hosts)
    header["slurm_job_id"] = os.environ.get("SLURM_JOB_ID", "")
    if error is None:
        ex.ensure_loaded()  # raises on a broken model: a config problem, not a bad video
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

    info = {"video_id": video_id, "video": probe(video), "ad_audio": probe(ad_audio) if ad_audio else None}
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(output + ".tmp")
    tmp.write_text(json.dumps(info, indent=1, sort_keys=True, default=str))
    os.replace(tmp, output)
    return info


def make_label_set(sheet: str, spec: dict, output: str) -> pd.DataFrame:
    """results/labels/<set>.tsv: video_id, label (unlabelled rows dropped, classes merged)."""
    from trimodal.sheet import load_sheet

    df = load_sheet(sheet, check_files=False)
    source = spec.get("from", "label")
    if source != "label":
        raise ValueError(f"label set source {source!r} is not supported here")
    labels = df.loc[df["label"] != "", ["video_id", "label"]].reset_index(drop=True)
    merge = spec.get("merge", {}) or {}
    labels["label"] = labels["label"].map(lambda c: merge.get(c, c))
    min_count = int(spec.get("min_count", 2))
    counts = labels["label"].value_counts()
    dropped = counts[counts < min_count]
    if len(dropped):
        log.warning("dropping classes with fewer than %d videos: %s", min_count, dict(dropped))
        labels = labels[~labels["label"].isin(dropped.index)]
    if "group" in df.columns:
        labels["group"] = df.loc[labels["video_id"], "group"].to_numpy()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    labels.to_csv(output, sep="\t", index=False)
    log.info("label set: %d videos, classes %s", len(labels), dict(labels["label"].value_counts()))
    return labels



def classify_one(
    *, store_path: str, pooling: str, labels_tsv: str, label_set: str, classifier: str,
    cv: dict, options: dict, output: str,
):
    """Cross-validate one classifier on one feature set; write OOF predictions and metrics."""
    from trimodal.classify import evaluate_feature_set

    result = evaluate_feature_set(
        f"{Path(store_path).stem}:{pooling}", labels_tsv, classifier,
        features_dir=Path(store_path).parent, label_set=label_set,
        folds=int(cv.get("folds", 5)), seed=int(cv.get("seed", 0)), **options,
    )
    result.to_h5(output)
    log.info("%s", result.summary())
    return result


def make_report(results: list[str], out_dir: str, label_set: str) -> dict:
    from trimodal.report import write_report

    return write_report(results, out_dir, label_set)


def fuse_one(
    *, kind: str, feature_sets: list[str], labels_tsv: str, label_set: str, features_dir: str,
    classifier: str, cv: dict, options: dict, base_results: list[str], output: str,
):
    """One fusion evaluation: early (concatenation), intermediate (network), late:<method>."""
    from trimodal.classify import CVResult, align, coverage, load_feature_set, load_labels, run_cv
    from trimodal.fusion import block_slices, early_fusion_matrix, evaluate_early, late_fusion_from_results

    folds, seed = int(cv.get("folds", 5)), int(cv.get("seed", 0))
    if kind == "early":
        result = evaluate_early(feature_sets, labels_tsv, classifier, features_dir, label_set,
                                folds=folds, seed=seed, **options)
    elif kind.startswith("late:"):
        results = [CVResult.from_h5(p) for p in base_results]
        result = late_fusion_from_results(results, method=kind.split(":", 1)[1], folds=folds, seed=seed)
        result.kind = kind
    elif kind == "intermediate":
        from trimodal.fusion_net import IntermediateFusionClassifier

        labels_df = load_labels(labels_tsv)
        blocks, mods = {}, []
        for fs in feature_sets:
            X, ids, modality = load_feature_set(fs, features_dir)
            blocks[fs], _ = (X, ids), mods.append(modality)
        X, ids = early_fusion_matrix(blocks)
        cov = coverage(ids, labels_df)
        X, y, ids, groups = align(X, ids, labels_df)
        est = IntermediateFusionClassifier(
            block_slices=block_slices(blocks), seed=seed, device=pick_device(options.pop("device", "auto")),
            **options,
        )
        result = run_cv(X, y, ids, est, folds=folds, seed=seed, groups=groups,
                        feature_set="+".join(feature_sets), label_set=label_set, kind="intermediate",
                        modality="+".join(mods), n_missing=cov["n_missing_features"],
                        classifier_name="fusion_net")
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
        + crossmodal_table_md(df) + "\n\n![best R@10 per pair](heatmap.png)\n"
    )
    crossmodal_heatmap(df, outputs["heatmap"])
    return df
