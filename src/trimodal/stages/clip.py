"""The CLIP stage of the workflow: summaries, text-frame matching, generated images.

The study's cross-modal part beyond embedding mapping, as jobs (workflow/rules/clipstage.smk):

- summaries: each description cut to CLIP's 77-token context (trimodal.crossmodal.clip.summarize: abstractive
  when a summariser is configured and loads, else extractive with SBERT), counted with the
  tokenizer of the stage's CLIP model;
- clip_match: CLIP similarity of each summary to the frames of every video, from the per-frame
  CLIP embeddings of a `clip_frames` extractor (optionally only its distinct frames), so only the
  texts are embedded here; text -> video and video -> text retrieval over the corpus, beside
  chance;
- text2image: one image (or more) per summary from a diffusers pipeline, embedded by the same
  CLIP and compared with the video's (distinct) frames and with every other video's: is the
  generated image closer to its own video than to the others?
- the report table (results/report/crossmodal/clip.md) and the image grid: drawn by
  :mod:`trimodal.report.clip`.

Config (`clip_stage`, see config/config.yaml): `frames` names the clip_frames extractor whose
model is the stage's CLIP; `distinct` optionally names a distinct_frames entry.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from trimodal.crossmodal.retrieval import true_ranks
from trimodal.plumbing.atomic import write_table
from trimodal.report.clip import image_grid, write_clip_report
from trimodal.store import features as store

log = logging.getLogger("trimodal")

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------- configuration


def check_config(stage: Mapping[str, Any], extractors: Mapping[str, Any]) -> list[str]:
    """Every problem of the `clip_stage` section, one line each (empty when it is usable)."""
    problems = []
    distinct = stage.get("distinct_frames") or {}
    for name, spec in distinct.items():
        where = f"clip_stage.distinct_frames.{name}"
        if name in extractors:
            problems.append(f"{where}: the name is already an extractor's")
        if not NAME.match(str(name)):
            problems.append(f"{where}: names are lowercase letters, digits and _")
        source = (spec or {}).get("source")
        if source not in extractors:
            problems.append(f"{where}.source: {source!r} is not a configured extractor")
        elif extractors[source].get("modality") != "video":
            problems.append(f"{where}.source: {source!r} is not a video extractor")
    needs_clip = [k for k in ("clip_match", "text2image") if stage.get(k) is not None]
    if needs_clip:
        frames = stage.get("frames")
        if frames is None:
            problems.append(
                f"clip_stage.frames: {' and '.join(needs_clip)} need a clip_frames extractor"
            )
        elif frames not in extractors:
            problems.append(f"clip_stage.frames: {frames!r} is not a configured extractor")
        elif extractors[frames].get("kind") != "clip_frames":
            problems.append(f"clip_stage.frames: {frames!r} is not of kind clip_frames")
    chosen = stage.get("distinct")
    if chosen is not None and chosen not in distinct:
        problems.append(
            f"clip_stage.distinct: {chosen!r} is not a clip_stage.distinct_frames entry"
        )
    t2i = stage.get("text2image")
    if t2i is not None and not (t2i or {}).get("model"):
        problems.append("clip_stage.text2image.model: a diffusers pipeline id or folder is needed")
    return problems


# --------------------------------------------------------------------------- summaries


def load_clip_tokenizer(model_spec: str):
    """The tokenizer of a CLIP checkpoint (hub id or folder): what counts the 77 tokens."""
    from transformers import CLIPProcessor

    from trimodal.plumbing.models import resolve_model

    return CLIPProcessor.from_pretrained(resolve_model(model_spec)).tokenizer


def make_summaries(
    sheet: str | Mapping[str, str],
    clip_model: str,
    config: Mapping[str, Any] | None,
    output: str,
    tokenizer=None,
) -> pd.DataFrame:
    """results/clip/summaries.tsv: per described video, its text as CLIP will read it.

    `sheet`: the sample sheet's path, or video_id -> description (a workflow job's params:
    the sheet is no job's input)."""
    from trimodal.corpus.sheet import load_sheet
    from trimodal.crossmodal.clip.summarize import Summarizer, n_tokens
    from trimodal.extractors.text_sources import clean_text

    tokenizer = tokenizer or load_clip_tokenizer(clip_model)
    summarizer = Summarizer(tokenizer, config)
    if summarizer.fallback_reason:
        log.warning("abstractive summariser unavailable: %s", summarizer.fallback_reason)
    if isinstance(sheet, Mapping):
        descriptions = dict(sheet)
    else:
        descriptions = load_sheet(sheet, check_files=False)["description"].to_dict()
    rows = []
    for vid, desc in descriptions.items():
        text = clean_text(desc)
        if not text:
            continue
        n = n_tokens(text, tokenizer)
        fits = n <= summarizer.max_tokens
        summary = text if fits else summarizer(text)
        rows.append(
            {
                "video_id": vid,
                "n_tokens_description": n,
                "summary": summary,
                "n_tokens": n_tokens(summary, tokenizer),
                "method": "as_is" if fits else summarizer.method,
            }
        )
    out = pd.DataFrame(
        rows, columns=["video_id", "n_tokens_description", "summary", "n_tokens", "method"]
    )
    _write_tsv(out, output)
    log.info("%d summaries, %d shortened", len(out), int((out["method"] != "as_is").sum()))
    return out


def _write_tsv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    write_table(path, df, sep="\t", index=False)


def read_summaries(path: str | os.PathLike) -> dict[str, str]:
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return dict(zip(df["video_id"], df["summary"], strict=True))


# --------------------------------------------------------------------------- frames


def store_ids(path: str | os.PathLike) -> list[str]:
    with h5py.File(path, "r") as h5:
        return list(h5["video_ids"].asstr()[()])


def nearest_rows(times: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of `times` nearest each wanted time (distinct rows, in time order)."""
    times = np.asarray(times, dtype=np.float64)
    idx = np.clip(np.searchsorted(times, wanted), 1, max(1, len(times) - 1))
    left = np.abs(wanted - times[idx - 1]) <= np.abs(
        times[np.minimum(idx, len(times) - 1)] - wanted
    )
    rows = np.where(left, idx - 1, idx) if len(times) > 1 else np.zeros(len(wanted), np.int64)
    return np.unique(rows)


def frame_embeddings(
    frames_store: str, distinct_store: str | None, ids: Sequence[str]
) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(video id, CLIP frame embeddings, their times, their rows in the CLIP store) per video.

    With a distinct-frames store, only the CLIP windows at (nearest to) the distinct frames'
    times are kept: the same frames when the distinct frames were chosen on these very CLIP
    embeddings, the nearest sampled ones when they were chosen on another extractor's.
    """
    for vid in ids:
        E, times = store.load_windows(frames_store, vid)
        rows = np.arange(len(E))
        if distinct_store is not None:
            _, dtimes = store.load_windows(distinct_store, vid)
            rows = nearest_rows(times[:, 0], dtimes[:, 0])
        yield vid, E[rows], times[rows, 0], rows


def common_ids(texts: Mapping[str, str], *stores: str | None) -> list[str]:
    """Videos with a text and an ok record in every given store, in sorted order."""
    keep = set(texts)
    for s in stores:
        if s is not None:
            keep &= set(store_ids(s))
    return sorted(keep)


# --------------------------------------------------------------------------- clip_match


def _metric_rows(S: np.ndarray, **head) -> dict[str, Any]:
    from trimodal.crossmodal.retrieval import metrics_from_similarity

    return {**head, **metrics_from_similarity(S)}


def clip_match_job(
    summaries_tsv: str,
    frames_store: str,
    distinct_store: str | None,
    model_spec: str,
    frame_aggs: Sequence[str],
    out_videos: str,
    out_metrics: str,
    device: str = "cpu",
) -> pd.DataFrame:
    """Per-video similarities and corpus retrieval metrics of summaries against frames."""
    from trimodal.crossmodal.clip.match import match_similarity
    from trimodal.extractors.clip_model import load_clip, text_embeddings

    texts = read_summaries(summaries_tsv)
    ids = common_ids(texts, frames_store, distinct_store)
    if len(ids) < 2:
        raise ValueError(
            f"clip_match needs at least two videos with a description and frames; got {ids}"
        )
    model, processor = load_clip(model_spec, device)
    T = text_embeddings([texts[v] for v in ids], model, processor).float().numpy()
    n_frames, best_time, best_sim = [], [], []

    def stream():  # one video's frames at a time; note its best frame for the description
        for i, (_, E, times, _) in enumerate(frame_embeddings(frames_store, distinct_store, ids)):
            sims = E @ T[i]
            n_frames.append(len(E))
            best_time.append(float(times[int(np.argmax(sims))]))
            best_sim.append(float(np.max(sims)))
            yield E

    S = match_similarity(T, stream(), tuple(frame_aggs))
    used = "distinct" if distinct_store else "all"
    rows = []
    for agg, M in S.items():
        rows.append(_metric_rows(M, direction="text→video", frames=used, frame_agg=agg))
        rows.append(_metric_rows(M.T, direction="video→text", frames=used, frame_agg=agg))
    metrics = pd.DataFrame(rows)
    per = pd.DataFrame({"video_id": ids, "summary": [texts[v] for v in ids]})
    per["n_frames"] = n_frames
    for agg, M in S.items():
        off = ~np.eye(len(M), dtype=bool)
        per[f"sim_own_{agg}"] = np.diag(M)
        per[f"sim_others_mean_{agg}"] = np.where(off, M, np.nan).mean(axis=1, where=off)
        per[f"rank_text_to_video_{agg}"] = true_ranks(M)
        per[f"rank_video_to_text_{agg}"] = true_ranks(M.T)
    # the frame of its own video that best matches each description
    per["best_frame_time"] = best_time
    per["best_frame_sim"] = best_sim
    _write_tsv(per, out_videos)
    _write_tsv(metrics, out_metrics)
    log.info("\n%s", metrics[["direction", "frame_agg", "n", "R@1", "chance_R@1"]].to_string())
    return metrics


# --------------------------------------------------------------------------- text2image


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


def text2image_job(
    summaries_tsv: str,
    frames_store: str,
    distinct_store: str | None,
    clip_model: str,
    config: Mapping[str, Any],
    videos: Mapping[str, str],
    out_videos: str,
    out_metrics: str,
    out_images: str,
    out_grid: str,
    cache_dir: str,
    device: str = "cpu",
    pipe=None,
) -> pd.DataFrame:
    """Generate, embed and score images for every described video with frames. `videos`:
    video_id -> its video file (the grid shows its frames); `cache_dir`: images drawn before
    with the same (model, prompt, settings), kept across runs on this machine."""
    from trimodal.crossmodal.clip.text2image import (
        cache_paths,
        generate_images,
        image_settings,
        load_pipeline,
        mean_unit,
        own_vs_others,
        text2image_metrics,
    )
    from trimodal.extractors.clip_model import image_embeddings, load_clip

    texts = read_summaries(summaries_tsv)
    ids = common_ids(texts, frames_store, distinct_store)
    if len(ids) < 2:
        raise ValueError(
            f"text2image needs at least two videos with a description and frames; got {ids}"
        )
    keys = ("n_images", "steps", "guidance", "seed", "height", "width")
    settings = image_settings(str(config["model"]), **{k: config[k] for k in keys if k in config})
    draw = {k: settings[k] for k in keys}
    if pipe is None:
        pipe = load_pipeline(config["model"], device)
        pipe.set_progress_bar_config(disable=True)
    model, processor = load_clip(clip_model, device)
    cache, n_grid = Path(cache_dir), int(config.get("grid", 6))
    G, shown = [], {}
    for k, v in enumerate(ids):  # one video at a time: a corpus of images never sits in memory
        images = generate_images(
            {v: texts[v]}, pipe, cache_dir=cache, model_id=settings["model"], **draw
        )[v]
        G.append(mean_unit(image_embeddings(images, model, processor).float().numpy()))
        if k < n_grid:
            shown[v] = images[0]
    del pipe
    G = np.stack(G)
    n_frames, best_time, F = [], [], []
    for i, (_, E, times, _) in enumerate(frame_embeddings(frames_store, distinct_store, ids)):
        F.append(mean_unit(E))
        n_frames.append(len(E))
        best_time.append(float(times[int(np.argmax(E @ G[i]))]))
    S = G @ np.stack(F).T
    m = text2image_metrics(S)
    used = "distinct" if distinct_store else "all"
    metrics = pd.DataFrame([{"direction": "image→video", "frames": used, "frame_agg": "mean", **m}])
    per = pd.DataFrame({"video_id": ids, "summary": [texts[v] for v in ids]})
    per["n_frames"] = n_frames
    for key, values in own_vs_others(S).items():
        per[key] = values
    per["rank"] = true_ranks(S)
    per["best_frame_time"] = best_time  # the frame of its video closest to the image
    # the generated images, as files beside the tables (hard links to the cache when possible)
    out_dir = Path(out_images)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for v in ids:
        current = cache_paths(cache, v, texts[v], settings)
        for i, f in enumerate(current):
            _link_or_copy(f, out_dir / f"{v}_{i}.png")
        names.append(",".join(f"{v}_{i}.png" for i in range(len(current))))
    per["images"] = names
    _write_tsv(per, out_videos)
    _write_tsv(metrics, out_metrics)
    frames = frame_embeddings(frames_store, distinct_store, list(shown))
    image_grid(per, shown, frames, frames_store, videos, out_grid, G)
    log.info(
        "\n%s", metrics[["n", "R@1", "chance_R@1", "sim_matched", "sim_unmatched"]].to_string()
    )
    return metrics


# --------------------------------------------------------------------------- report


def clip_report_job(
    out_md: str, out_csv: str, models: Mapping[str, str] | None = None, **tables: str
) -> pd.DataFrame:
    """The clip_report rule's entry point: the stage's report from its tables (`tables`: the
    :func:`trimodal.report.clip.write_clip_report` inputs the job has, by name)."""
    return write_clip_report(out_md, out_csv, models=models, **tables)


def text2image_cache(config: Mapping[str, Any]) -> str:
    """Where text2image keeps the images it drew, across runs of this machine: under the
    reuse cache (``cache: dir``; local state, keyed by model, prompt and settings, never
    stale), or a scratch folder when the cache is off (a killed job then redraws)."""
    import tempfile

    from trimodal.store.reuse import cache_dir

    folder = cache_dir(config)
    if not folder:
        return tempfile.mkdtemp(prefix="text2image-")
    return str(Path(folder) / "text2image")
