"""The extract stage: one extractor on a batch of videos (or on one), one model load a job.

Every video gets its own per-video file (features or an error record). The model is built only
when a video needs it: a rerunning batch whose videos are all unchanged reuses their earlier
results (:mod:`trimodal.store.reuse`) without importing the model's library.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from trimodal.domain import ExtractionError, VideoItem
from trimodal.extractors.base import (
    Reads,
    build_extractor,
    extractor_reads,
    extractor_target,
    get_extractor_class,
)
from trimodal.media.probe import partial_reason, read_probe
from trimodal.plumbing.batching import shrink_for_attempt, video_path
from trimodal.plumbing.codehash import package_versions
from trimodal.plumbing.device import gpu_out_of_memory, pick_device
from trimodal.plumbing.limits import memory_limit
from trimodal.plumbing.models import describe_model, is_resolved
from trimodal.plumbing.threads import torch_threads
from trimodal.stages.worker import close_worker, run_isolated
from trimodal.store import features as store
from trimodal.store import reuse
from trimodal.store.reuse import ResultCache, media_identity, result_key

log = logging.getLogger("trimodal")

#: stage of an error record for an optional input the video does not have (no AD track, no
#: description): kept in the store (coverage) but not listed in results/failures.tsv
ABSENT = "absent"

#: error stages that depend on the run, not on the video: never reused
_TRANSIENT = {"timeout", "memory"}


@cache
def _model_attrs(kind: str, model: str | None) -> tuple[tuple[str, str], ...]:
    """Provenance of the weights, fingerprinted once per job (not once per video); a model the
    back-end fetches from the Hub is looked up under the repository it fetches (a Whisper size
    name's)."""
    try:
        hub_repo = get_extractor_class(kind).hub_repo
    except KeyError:  # a class registered at run time (tests)
        return tuple(describe_model(model).items())
    return tuple(describe_model(model, hub_repo).items())


@cache
def _packages(kind: str) -> tuple[tuple[str, str], ...]:
    """Versions (in this job's environment) of the libraries the extractor's code imports."""
    try:
        module = extractor_target(kind)[0]
    except KeyError:  # a class registered at run time (tests): no module to read
        return ()
    return tuple(package_versions(module).items())


def extractor_versions(kind: str, model: str | None, params: dict) -> dict[str, str]:
    """The library versions recorded with a file: those the extractor's code imports, and its
    back-end's in another interpreter (TensorFlow's, ``Extractor.backend_versions``)."""
    try:
        backend = get_extractor_class(kind).backend_versions(model, params)
    except KeyError:  # a class registered at run time (tests)
        backend = {}
    return dict(sorted({**dict(_packages(kind)), **backend}.items()))


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
    probe_json: str | None,
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
    across_versions: bool = False,
    partial_decode: str = "warn",
    run_params: dict | None = None,
) -> bool:
    """Run one extractor on one video; write features or an error record. True when ok.

    What it reads of the video (media, description, text sources, span) is what the
    extractor's class declares (:meth:`trimodal.extractors.base.Extractor.reads`); `params`
    are those that shape the result (the reuse key), `run_params` the run-time ones (an
    inference batch size), used to build the model only.

    The file records the code hash and the versions of the libraries the extractor imports (in
    this job's environment). The code is part of the reuse key; a cached result computed under
    other versions is recomputed unless `across_versions` (``cache: {across_versions: true}``).

    A failure to *load* the model is a configuration problem and raises (every video would
    fail the same way); a failure on this video's input becomes an error record.
    """
    counts = counts if counts is not None else Counts()
    CURRENT["video_id"] = video_id
    item = _video_item(video_id, row, probe_json)
    reads = extractor_reads(kind, modality, params)
    need = reads.media
    error = _sheet_error(item, need, modality, row, params, text_inputs or {})
    header = _header(extractor, kind, modality, model, params, code, partial_decode)
    if error is not None:  # decided from the sheet and the probe: no model, nothing to reuse
        _count_error(counts, video_id, extractor, error)
        store.write_video_file(output, video_id, header, error=error)
        return False

    device = pick_device(device)
    build = {**params, **(run_params or {})}  # what the model is built with
    model_args = dict(kind=kind, model=model, params=build, device=device)
    header = _resolved_header(
        header, model_args, extractor, kind, modality, model, params, code, partial_decode
    )
    cache = ResultCache(cache_dir, extractor)
    key = _reuse_key(video_id, header, device, item, reads)
    reused = _reused(cache, key, output, header["packages"], across_versions)
    if reused is not None:
        counts["reused"] += 1
        log.info("%s: %s reused (inputs unchanged, %s)", video_id, extractor, key[:12])
        return reused

    counts["computed"] += 1
    error, reusable = _run_extractor(
        item, extractor, output, header, partial_decode, need, model_args, timeout_s
    )
    if error is not None:
        _count_error(counts, video_id, extractor, error)
    else:
        log.info("%s: %s computed", video_id, extractor)
    if reusable:
        cache.keep(key, output)
    return error is None


def _sheet_error(
    item: VideoItem, need: str | None, modality: str, row: dict, params: dict, text_inputs: dict
) -> tuple[str, str] | None:
    """Why this video cannot be extracted, from the sheet, the probe and its text sources
    (no model); reads the text inputs into item on the way."""
    error = _input_error(need, modality, item)
    missing = row.get("missing") or {}
    if error is None and need == "ad_audio" and item.span and "ad_map" in missing:
        error = "missing", f"ad_map file absent: {missing['ad_map']}"  # where the span lies
    _read_text_inputs(item, text_inputs)
    if error is None and modality == "text" and "sources" in params:
        error = _no_text(item, list(params["sources"]))
    return error


def _count_error(counts: Counts, video_id: str, extractor: str, error: tuple[str, str]) -> None:
    counts["errors"] += 1
    log.warning("%s: %s: error record (%s: %s)", video_id, extractor, *error)


def _resolved_header(
    header, model_args: dict, extractor, kind, modality, model, params, code, partial_decode
) -> dict[str, Any]:
    """The header, with the model's revision once a model the back-end fetches is loaded (built
    as the computation will use it, `model_args`, so the job loads it once)."""
    if not is_resolved(header):  # fetched by the back-end: load it first, record its revision
        _extractor(**model_args)
        _model_attrs.cache_clear()
        header = _header(extractor, kind, modality, model, params, code, partial_decode)
    return header


def _reuse_key(video_id: str, header: dict, device: str, item: VideoItem, reads: Reads) -> str:
    """The reuse-cache key of this video's result."""
    return result_key(
        {
            "video_id": video_id,  # the file records it
            # the versions are checked against the entry's own record (_reused), not keyed, so
            # that `across_versions` can still find results of other versions
            "header": {k: v for k, v in header.items() if k not in ("slurm_job_id", "packages")},
            "device": device,
            "inputs": _own_inputs(item, reads),
        }
    )


def _run_extractor(
    item, extractor, output, header, partial_decode, need, model_args: dict, timeout_s
) -> tuple[tuple[str, str] | None, bool]:
    """(error or None, reusable): the extractor run on the video, in a worker process the job
    can kill when there is a timeout (a timeout's error record is written here)."""
    if timeout_s:  # in a worker process the job can kill, even inside native code
        error, reusable = run_isolated(
            "trimodal.stages.extract",
            model_args,
            dict(item=item, extractor=extractor, output=output, header=header,
                 partial_decode=partial_decode, need=need),
            timeout_s,
            f"{extractor} on {item.video_id}",
        )  # fmt: skip
        if error is not None and error[0] == "timeout":
            store.write_video_file(output, item.video_id, header, error=error)
        return error, reusable
    return _compute(_extractor(**model_args), item, extractor, output, header, partial_decode, need)


def _video_item(video_id: str, row: dict[str, Any], probe_json: str) -> VideoItem:
    """The video as the extractors see it: its sheet row and what the probe found."""
    probes = read_probe(probe_json) if probe_json else {}  # text extractors read no probe
    return VideoItem(
        video_id=video_id,
        video=row.get("video") or None,
        ad_audio=row.get("ad_audio") or None,
        description=row.get("description") or None,
        label=row.get("label") or None,
        probe=probes.get("video") or {},
        ad_probe=probes.get("ad_audio") or {},
        span=_span(row.get("span") or probes.get("span")),
        ad_map=row.get("ad_map") or None,
    )


def _input_error(need: str | None, modality: str, item: VideoItem) -> tuple[str, str] | None:
    """Why this video cannot be extracted, from the sheet and the probe alone (no model)."""
    unusable = _unusable(need, item)
    if unusable is not None:  # an absent file (missing_media: skip), a span outside the video
        return unusable
    if need == "video" and not item.probe.get("ok"):
        return "probe", f"video unreadable: {item.probe.get('reason', 'unknown')}"
    if need == "ad_audio" and not item.ad_audio:
        return ABSENT, "no ad_audio track in the sample sheet"
    if need == "ad_audio" and not item.ad_probe.get("ok"):
        return "probe", f"ad_audio unreadable: {item.ad_probe.get('reason', 'unknown')}"
    if need == "video" and modality == "audio" and not item.probe.get("audio"):
        return "decode", "no audio stream in the video file"
    if need == "video" and modality == "video" and not item.probe.get("video"):
        return "decode", "no video stream in the file"
    return None


def _read_text_inputs(item: VideoItem, text_inputs: dict[str, str]) -> None:
    """The texts other extractors produced for this video (a transcript), into item.texts."""
    for source, path in text_inputs.items():
        if os.path.isdir(path):  # a batched producer: its batch folder holds this video's file
            path = os.path.join(path, f"{item.video_id}.h5")
        try:
            data = store.read_video_file(path)
        except OSError as e:
            log.warning("%s: text source %s unreadable: %s", item.video_id, source, e)
            continue
        if data["attrs"].get("ok") and data.get("text"):
            item.texts[source] = data["text"]


def _no_text(item: VideoItem, sources: list[str]) -> tuple[str, str] | None:
    """A text extractor with no text at all says so without importing its model."""
    from trimodal.extractors.text_sources import gather_text

    try:
        gather_text(item, sources)
    except ExtractionError as e:
        return e.stage, e.reason
    return None


def _header(extractor, kind, modality, model, params, code, partial_decode) -> dict[str, Any]:
    """The per-video file's attributes: what computed it (part of the reuse key, but for the
    package versions, checked apart, and the SLURM job id, where it ran)."""
    header = {"extractor": extractor, "kind": kind, "modality": modality, "params": params}
    header.update({"model": model or "", **dict(_model_attrs(kind, model))})
    header.update({"code": code, "packages": extractor_versions(kind, model, params)})
    if partial_decode != "warn":  # part of the reuse key only when not the default
        header["partial_decode_policy"] = partial_decode
    # where the job ran (per-video file only; stores keep model/params, not hosts)
    header["slurm_job_id"] = os.environ.get("SLURM_JOB_ID", "")
    return header


def _reused(
    cache: ResultCache, key: str, output: str, packages: dict, across_versions: bool
) -> bool | None:
    """Whether the cached result was served to `output` (its ok flag), or None: no entry, an
    entry that does not open (discarded), or one computed under other package versions."""
    if not cache.fetch(key, output):
        return None
    try:
        attrs = store.store_attrs(output)  # attributes only, not the arrays
    except OSError as e:  # the entry does not open: never serve it again
        cache.discard(key, f"does not open: {e}")
        return None
    versions = json.loads(attrs.get("packages") or "{}")
    if across_versions or versions == packages:
        return bool(attrs.get("ok"))
    changed = sorted(set(versions.items()) ^ set(packages.items()))
    log.info("%s cached under other package versions %s: recomputing", output, changed)
    return None


def _compute(ex, item: VideoItem, extractor: str, output: str, header: dict, partial_decode, need):
    """Extract one video and write its file: (error or None, reusable). `need`: the media it
    reads (a segment's feature times are relative to its span)."""
    video_id = item.video_id
    error, reusable = None, True
    try:
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
    if error is None:
        partial = partial_reason(features.attrs)
        if partial and partial_decode == "error":
            error = ("partial_decode", partial)
        elif partial:
            log.warning("%s: %s: partial decode, features kept (%s)", video_id, extractor, partial)
    if error is not None:
        store.write_video_file(output, video_id, header, error=error)
    else:
        if item.span is not None and need is not None:  # its times are relative to this
            features.attrs.update(span_start=item.span[0], span_end=item.span[1])
        store.write_video_file(output, video_id, header, features=features)
    return error, reusable


def load_extractor(kind: str, model: str | None, params: dict, device: str) -> None:
    """Load the model in an isolation worker (once per worker, outside any video's limit)."""
    _extractor(kind, model, params, device)


def compute_video(*, kind, model, params, device, **video) -> tuple:
    """One video in an isolation worker (:mod:`trimodal.stages.worker`): (error, reusable)."""
    return _compute(_extractor(kind, model, params, device), **video)


def _own_inputs(item: VideoItem, reads: Reads) -> dict[str, Any]:
    """The inputs of this video that the extractor reads, as its class declares them (the
    reuse key's per-video part)."""
    need = reads.media
    if need is None:  # a text extractor: its description and source texts
        return {
            "description": (item.description or "") if reads.description else "",
            "texts": dict(sorted(item.texts.items())),
        }
    media = item.ad_audio if need == "ad_audio" else item.video
    probe = item.ad_probe if need == "ad_audio" else item.probe
    own = {"media": media_identity(media), "probe": probe}
    if reads.video and reads.ad_audio:  # a plug-in that reads both tracks
        own["ad_media"] = media_identity(item.ad_audio) if item.ad_audio else None
        own["ad_probe"] = item.ad_probe
    if reads.description:  # a plug-in media extractor that also reads the description
        own["description"] = item.description or ""
    if reads.sources:
        own["texts"] = dict(sorted(item.texts.items()))
    if item.span is not None and reads.span:  # a segment row: its span (and its AD map)
        own["span"] = list(item.span)
        if need == "ad_audio" and item.ad_map:
            own["ad_map"] = media_identity(item.ad_map)
    return own


def _span(value) -> tuple[float, float] | None:
    return None if not value else (float(value[0]), float(value[1]))


def _unusable(need: str | None, item: VideoItem) -> tuple[str, str] | None:
    """The error record of a media extractor on a row whose file is absent (stage missing)
    or whose segment does not lie inside its video (stage span); None otherwise."""
    if need is None:
        return None
    probe = item.ad_probe if need == "ad_audio" else item.probe
    if probe.get("stage") == "missing":
        return "missing", f"{need} file absent: {probe.get('path')}"
    if item.probe.get("stage") == "span":
        return "span", item.probe.get("reason", "segment outside the video")
    if need == "ad_audio" and item.span and item.ad_map and not os.path.exists(item.ad_map):
        return "missing", f"ad_map file absent: {item.ad_map}"  # where the span lies on it
    return None


def extract_files(
    video_id: str,
    files: dict,
    output: str,
    description: str | None = None,
    span=None,
    missing: dict | None = None,
    **common,
) -> bool:
    """:func:`extract_one` from a job's named input files (probe, video, ad_audio, ad_map,
    text_<source>; a probe or text source may be the batch folder holding it); span: (start,
    end) of a segment row; missing: files of the row the plan found absent (column -> the
    sheet's value); `common`: the rest of extract_one's arguments."""
    probe = files.get("probe")
    return extract_one(
        video_id=video_id,
        row={
            "video": files.get("video"),
            "ad_audio": files.get("ad_audio"),
            "ad_map": files.get("ad_map"),
            "description": description,
            "span": span,
            "missing": missing or {},
        },
        probe_json=video_path(probe, video_id, ".json") if probe else None,
        output=output,
        text_inputs={k[5:]: f for k, f in files.items() if k.startswith("text_")},
        **common,
    )


def extract_batch(
    videos: list[dict], inputs: list[str] | None = None, folder: str = "", **common
) -> Counts:
    """Run one extractor on a batch of videos, loading its model at most once.

    `videos`: per video, the arguments of :func:`extract_files` (``video_id``, ``files``,
    ``output``, ``description``, ``span``, ``missing``), or from a workflow job ``inputs``
    (input name -> index into the job's `inputs`) instead of files, its file then written to
    `folder`/<video_id>.h5. Each video gets its own features or error record, exactly as in a
    per-video job; unchanged videos reuse their earlier result.
    """
    counts = Counts()
    try:
        for v in videos:
            v = dict(v)
            if "inputs" in v:
                v["files"] = {k: inputs[i] for k, i in v.pop("inputs").items()}
                v["output"] = os.path.join(folder, f"{v['video_id']}.h5")
            extract_files(**v, counts=counts, **common)
    finally:
        close_worker()  # the batch's isolation worker, if any, with its helpers
    log.info(
        "batch of %d videos: %d computed, %d reused, %d error records",
        len(videos),
        counts["computed"],
        counts["reused"],
        counts["errors"],
    )
    return counts


def extract_job(
    *,
    rule: str,
    extractor: str,
    kind: str,
    modality: str,
    model: str | None,
    params: dict,
    device: str,
    code: str,
    config: Mapping[str, Any],
    resources: Mapping[str, Any],
    output: str,
    partial_decode: str = "warn",
    batch: str | None = None,
    videos: list[dict] | None = None,
    inputs: list[str] | None = None,
    video_id: str | None = None,
    video: Mapping[str, Any] | None = None,
    files: Mapping[str, str] | None = None,
) -> Counts | bool:
    """The extract rule's entry point: a batch job (`batch`: its `videos` as the plan gives
    them and the job's `inputs`; `output` the batch folder) or a per-video job (`video_id`, its
    `video` values and input `files`), under the rule's memory ceiling (``mem_mb``) and
    per-video timeout (``video_timeout_s``); a GPU job's retry (``gpu_attempt``) halves the
    batch. The reuse cache and the run-time params (an inference batch size) come from the
    `config`, like threads: no param of the rule, so changing them reruns nothing."""
    shrink_for_attempt(resources.get("gpu_attempt"))
    configured = config["extractors"][extractor].get("params") or {}
    common = dict(
        extractor=extractor,
        kind=kind,
        modality=modality,
        model=model,
        params=dict(params),
        device=device,
        code=code,
        cache_dir=reuse.cache_dir(config),
        across_versions=reuse.across_versions(config),
        timeout_s=resources.get("video_timeout_s"),
        partial_decode=partial_decode,
        run_params=run_params(kind, configured),
    )
    if batch is not None:
        Path(output).mkdir(parents=True, exist_ok=True)
        first = videos[0]["video_id"]

        def where():
            return f"{rule} {batch} (video {CURRENT['video_id'] or first})"

        with memory_limit(resources.get("mem_mb"), where):
            # per video: which inputs are its files; its file goes into the output folder
            return extract_batch(list(videos), list(inputs), output, **common)
    with memory_limit(resources.get("mem_mb"), f"{rule} {video_id}"):
        v = dict(video)  # its description, span and absent files, as values
        return extract_files(
            video_id=video_id,
            files=dict(files),
            output=output,
            description=v.get("description"),
            span=v.get("span"),
            missing=v.get("missing"),
            **common,
        )


def run_params(kind: str, params: dict) -> dict:
    """The run-time parameters (``Param(runtime=True)``: an inference batch size) among an
    extractor's configured `params`: the job takes them from the config, not its params."""
    from trimodal.extractors.base import get_extractor_class

    runtime = get_extractor_class(kind).runtime_params()
    return {k: v for k, v in (params or {}).items() if k in runtime}


#: the reuse key's per-video part, for tests that check it follows what a class declares
own_inputs = _own_inputs
