"""The probe stage: duration, streams and codecs of each video of a batch, one JSON a video.

Probing needs only PyAV (no torch, no pandas), so a probe job costs little more than Python's
start-up; batching spreads that over many videos.
"""

from __future__ import annotations

import logging

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


def probe_video(
    video_id: str, video: str | None, ad_audio: str | None, output: str, span=None
) -> dict:
    """Write results/probe/.../<video_id>.json (atomically); an unreadable file is ok: false.

    span: (start, end) seconds of a segment row, checked against the video's duration and
    kept in the JSON. An absent file gets ``stage: missing``.
    """
    info = {
        "video_id": video_id,
        "video": _probe(video),
        "ad_audio": _probe(ad_audio) if ad_audio else None,
    }
    if span is not None:
        info["span"] = [float(x) for x in span]
        info["video"] = check_span(info["video"], span)
    write_json(output, info, indent=1, sort_keys=True, default=str)
    return info


def probe_batch(videos: list[dict]) -> int:
    """:func:`probe_video` for each of `videos` (video_id, video, ad_audio, output[, span]);
    n ok."""
    n_ok = 0
    for v in videos:
        info = probe_video(v["video_id"], v["video"], v.get("ad_audio"), v["output"], v.get("span"))
        n_ok += bool(info["video"].get("ok"))
    log.info("probed %d videos: %d readable", len(videos), n_ok)
    return n_ok
