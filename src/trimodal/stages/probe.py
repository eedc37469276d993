"""The probe stage: duration, streams and codecs of each video of a batch, one JSON a video.

Probing needs only PyAV (no torch, no pandas), so a probe job costs little more than Python's
start-up; batching spreads that over many videos.
"""

from __future__ import annotations

import logging

from trimodal.atomic import write_json
from trimodal.probe import probe

log = logging.getLogger("trimodal")


def probe_video(video_id: str, video: str | None, ad_audio: str | None, output: str) -> dict:
    """Write results/probe/.../<video_id>.json (atomically); an unreadable file is ok: false."""
    info = {
        "video_id": video_id,
        "video": probe(video),
        "ad_audio": probe(ad_audio) if ad_audio else None,
    }
    write_json(output, info, indent=1, sort_keys=True, default=str)
    return info


def probe_batch(videos: list[dict]) -> int:
    """:func:`probe_video` for each of `videos` (video_id, video, ad_audio, output); n ok."""
    n_ok = 0
    for v in videos:
        info = probe_video(v["video_id"], v["video"], v.get("ad_audio"), v["output"])
        n_ok += bool(info["video"].get("ok"))
    log.info("probed %d videos: %d readable", len(videos), n_ok)
    return n_ok
