"""The extract stage: one extractor on a batch of videos (or on one), one model load a job.

Every video gets its own per-video file (features or an error record). The model is built only
when a video needs it: a rerunning batch whose videos are all unchanged reuses their earlier
results (:mod:`trimodal.reuse`) without importing the model's library.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from functools import cache
from typing import Any

from trimodal import store
from trimodal.device import gpu_out_of_memory, pick_device
from trimodal.extractors.base import build_extractor
from trimodal.limits import time_limit
from trimodal.models import describe_model
from trimodal.probe import read_probe
from trimodal.reuse import ResultCache, file_identity, result_key
from trimodal.threads import torch_threads
from trimodal.types import ExtractionError, VideoItem

log = logging.getLogger("trimodal")

#: stage of an error record for an optional input the video does not have (no AD track, no
#: description): kept in the store (coverage) but not listed in results/failures.tsv
ABSENT = "absent"

#: error stages that depend on the run, not on the video: never reused
_TRANSIENT = {"timeout", "memory"}


def _needs_media(modality: str, params: dict) -> str | None:
    """Which probe an extractor depends on: "video", "ad_audio", or None for text."""
    if modality == "text":
        return None
    if modality == "audio" and params.get("source", "soundtrack") == "ad_audio":
        return "ad_audio"
    return "video"


@cache
def _model_attrs(model: str | None) -> tuple[tuple[str, str], ...]:
    """Provenance of the weights, fingerprinted once per job (not once per video)."""
    return tuple(describe_model(model).items())


#: extractors built in this process, by (kind, model, params, device): a batch job loads its
#: model once for all its videos
_EXTRACTORS: dict[tuple, Any] = {}


def _extractor(kind: str, model: str | None, params: dict, device: str):
    key = (kind, model, json.dumps(params, sort_keys=True, default=str), device)
    if key not in _EXTRACTORS:
        ex = build_extractor(kind, model, params, device=device)
        ex.ensure_loaded()  # raises on a broken model: a config problem, not a bad video
        if "torch" in sys.modules:  # loaded with the model: the job's threads, both pools
            torch_threads()
        _EXTRACTORS[key] = ex
    return _EXTRACTORS[key]


#: the video this process is extracting (named by the memory guard when it stops a batch)
CURRENT: dict[str, str | None] = {"video_id": None}


class Counts(dict):
    """What a job did per video: computed (model called), reused, error records."""

    def __init__(self):
        super().__init__(computed=0, reused=0, errors=0)


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
    code: str = "",
    cache_dir: str | None = None,
    text_inputs: dict[str, str] | None = None,
    timeout_s: float | None = None,
    counts: Counts | None = None,
) -> bool:
    """Run one extractor on one video; write features or an error record. True when ok.

    A failure to *load* the model is a configuration problem and raises (every video would
    fail the same way); a failure on this video's input becomes an error record.
    """
    counts = counts if counts is not None else Counts()
    CURRENT["video_id"] = video_id
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

    header.update({"model": model or "", **dict(_model_attrs(model))})
    # where the job ran (per-video file only; stores keep model/params, not hosts)
    header["slurm_job_id"] = os.environ.get("SLURM_JOB_ID", "")
    if error is not None:  # decided from the sheet and the probe: no model, nothing to reuse
        counts["errors"] += 1
        log.warning("%s: %s: error record (%s: %s)", video_id, extractor, *error)
        store.write_video_file(output, video_id, header, error=error)
        return False

    device = pick_device(device)
    cache = ResultCache(cache_dir, extractor)
    key = result_key(
        {
            "video_id": video_id,  # the file records it
            "header": {k: v for k, v in header.items() if k != "slurm_job_id"},
            "code": code,
            "device": device,
            "inputs": _own_inputs(item, need, modality, params),
        }
    )
    if cache.fetch(key, output):
        counts["reused"] += 1
        log.info("%s: %s reused (inputs unchanged, %s)", video_id, extractor, key[:12])
        return bool(store.store_attrs(output).get("ok"))  # attributes only, not the arrays

    ex = _extractor(kind, model, params, device)
    counts["computed"] += 1
    reusable = True
    try:
        with time_limit(timeout_s, f"{extractor} on {video_id}"):
            features = ex.extract(item)
    except ExtractionError as e:
        error = (e.stage, e.reason)
        reusable = e.stage not in _TRANSIENT
    except Exception as e:  # noqa: BLE001 - one bad video must never kill the run
        if gpu_out_of_memory(e):  # the job fails: Snakemake retries it with a smaller batch
            raise
        log.error("%s: %s failed:\n%s", video_id, extractor, traceback.format_exc())
        error = ("extract", f"{type(e).__name__}: {e}")
        reusable = False
    if error is not None:
        counts["errors"] += 1
        log.warning("%s: %s: error record (%s: %s)", video_id, extractor, *error)
        store.write_video_file(output, video_id, header, error=error)
    else:
        store.write_video_file(output, video_id, header, features=features)
        log.info("%s: %s computed", video_id, extractor)
    if reusable:
        cache.keep(key, output)
    return error is None


def _own_inputs(item: VideoItem, need: str | None, modality: str, params: dict) -> dict[str, Any]:
    """The inputs of this video that the extractor reads (the reuse key's per-video part)."""
    if modality == "text":
        sources = params.get("sources") or ["description"]
        reads_description = "description" in sources or "all" in sources
        return {
            "description": (item.description or "") if reads_description else "",
            "texts": dict(sorted(item.texts.items())),
        }
    media = item.ad_audio if need == "ad_audio" else item.video
    probe = item.ad_probe if need == "ad_audio" else item.probe
    return {"media": file_identity(media), "probe": probe}


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


def extract_batch(videos: list[dict], **common) -> Counts:
    """Run one extractor on a batch of videos, loading its model at most once.

    `videos`: per video, the arguments of :func:`extract_files` (``video_id``, ``files``,
    ``output``, ``description``). Each video gets its own features or error record, exactly as
    in a per-video job; unchanged videos reuse their earlier result.
    """
    counts = Counts()
    for v in videos:
        extract_files(**v, counts=counts, **common)
    log.info(
        "batch of %d videos: %d computed, %d reused, %d error records",
        len(videos),
        counts["computed"],
        counts["reused"],
        counts["errors"],
    )
    return counts
