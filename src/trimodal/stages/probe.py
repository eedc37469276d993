"""The probe stage: duration, streams and codecs of each video of a batch, one JSON a video.

Probing needs only PyAV (no torch, no pandas), so a probe job costs little more than Python's
start-up; batching spreads that over many videos.
"""

from __future__ import annotations

import logging
from pathlib import Path

from trimodal.media.probe import probe
from trimodal.plumbing.atomic import write_json

log = logging.getLogger("trimodal")


#: stage of the probe's verdict on a file that does not exist (missing_media: skip keeps its
#: row): its extractors write error records of this stage, listed in results/failures.tsv
MISSING = "missing"
#: stage of a segment row whose time span does not lie inside its video
SPAN = "span"
#: a span may end this far past the probed duration (containers round their durations)
SPAN_TOLERANCE_S = 0.5


def check_span(info: dict, span) -> dict:
    """The video's probe with ``ok: false`` (stage ``span``) when ``span`` = (start, end)
    seconds does not satisfy 0 <= start < end <= duration (+ SPAN_TOLERANCE_S)."""
    start, end = (float(x) for x in span)
    duration = info.get("duration")
    if not info.get("ok"):
        return info
    if duration is None:
        reason = "the video's duration is unknown, so the segment cannot be checked"
    elif 0 <= start < end <= duration + SPAN_TOLERANCE_S:
        return info
    else:
        reason = f"segment {start:g}-{end:g} s does not lie inside the video (0-{duration:.3f} s)"
    return {**info, "ok": False, "reason": reason, "stage": SPAN}


def _probe(path: str | None) -> dict:
    info = probe(path)
    if not info.get("ok") and info.get("reason") == "file does not exist":
        info["stage"] = MISSING
    return info


def _absent(path: str) -> dict:
    """The verdict on a file the plan found absent (missing_media: skip): not looked at."""
    return {"ok": False, "path": path, "reason": "file does not exist", "stage": MISSING}


def probe_video(
    video_id: str,
    video: str | None,
    ad_audio: str | None,
    output: str,
    span=None,
    missing: dict | None = None,
) -> dict:
    """Write results/probe/.../<video_id>.json (atomically); an unreadable file is ok: false.

    span: (start, end) seconds of a segment row, checked against the video's duration and
    kept in the JSON. An absent file gets ``stage: missing``; `missing`: column -> the
    sheet's value of a file the plan found absent (no input of the job).
    """
    missing = missing or {}
    info = {
        "video_id": video_id,
        "video": _absent(missing["video"]) if "video" in missing else _probe(video),
        "ad_audio": (
            _absent(missing["ad_audio"])
            if "ad_audio" in missing
            else (_probe(ad_audio) if ad_audio else None)
        ),
    }
    if span is not None:
        info["span"] = [float(x) for x in span]
        info["video"] = check_span(info["video"], span)
    write_json(output, info, indent=1, sort_keys=True, default=str)
    return info


def probe_batch(videos: list[dict], inputs: list[str] | None = None, folder: str = "") -> int:
    """:func:`probe_video` for each of `videos`, n ok. Each entry: video_id, span, missing,
    and either the paths (video, ad_audio, output) or, from a workflow job, ``inputs``: column
    -> index into the job's `inputs`, its JSON then written to `folder`/<video_id>.json."""
    n_ok = 0
    for v in videos:
        if "inputs" in v:
            files = {col: inputs[i] for col, i in v["inputs"].items()}
            video, ad_audio = files.get("video"), files.get("ad_audio")
            output = str(Path(folder) / f"{v['video_id']}.json")
        else:
            video, ad_audio, output = v["video"], v.get("ad_audio"), v["output"]
        info = probe_video(v["video_id"], video, ad_audio, output, v.get("span"), v.get("missing"))
        n_ok += bool(info["video"].get("ok"))
    log.info("probed %d videos: %d readable", len(videos), n_ok)
    return n_ok
