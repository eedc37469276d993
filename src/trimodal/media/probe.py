"""Probe a media file with PyAV: duration, streams, codecs, size, rotation.

An unreadable file gives ``{"ok": False, "reason": ...}`` rather than an exception, so the probe
job never fails the run; downstream extractors read the probe and write an error record.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from trimodal.plumbing.atomic import file_kind


def _fraction(x) -> float | None:
    try:
        return float(x) if x else None
    except (TypeError, ZeroDivisionError):
        return None


def unreadable_reason(path: str | os.PathLike) -> str:
    """Why a decoder must not open `path` ("" when it may): missing, or not a regular file (a
    FIFO would block the decoder for ever, /dev/zero never ends, a directory cannot be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return "file does not exist"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file ({file_kind(st.st_mode)})"
    return ""


def probe(path: str | os.PathLike | None) -> dict[str, Any]:
    """Small JSON-able description of a media file; never raises for a bad file."""
    if path is None or str(path) == "" or str(path) == "nan":
        return {"ok": False, "reason": "no file given", "path": None}
    p = Path(path)
    out: dict[str, Any] = {"ok": False, "path": str(p), "reason": ""}
    if unreadable := unreadable_reason(p):
        out["reason"] = unreadable
        if p.exists():
            out["size_bytes"] = p.stat().st_size
        return out
    out["size_bytes"] = p.stat().st_size
    if out["size_bytes"] == 0:
        out["reason"] = "zero-length file"
        return out
    import av

    try:
        with av.open(str(p), metadata_errors="ignore") as c:
            out["format"] = c.format.name
            duration = c.duration / 1e6 if c.duration else None
            video = audio = None
            if c.streams.video:
                s = c.streams.video[0]
                cc = s.codec_context
                video = {
                    "codec": cc.name,
                    "width": cc.width,
                    "height": cc.height,
                    "fps": _fraction(s.average_rate) or _fraction(s.guessed_rate),
                    "n_frames": int(s.frames) or None,
                    "duration": float(s.duration * s.time_base) if s.duration else None,
                    "rotation": 0,
                    "pix_fmt": cc.pix_fmt,
                }
            if c.streams.audio:
                s = c.streams.audio[0]
                cc = s.codec_context
                audio = {
                    "codec": cc.name,
                    "sample_rate": cc.sample_rate,
                    "channels": cc.channels if hasattr(cc, "channels") else s.layout.nb_channels,
                    "duration": float(s.duration * s.time_base) if s.duration else None,
                }
            out.update(video=video, audio=audio, duration=duration)
            if video is None and audio is None:
                out["reason"] = "no audio or video stream"
                return out
            if duration is None:
                out["duration"] = (video or {}).get("duration") or (audio or {}).get("duration")
            # reading one packet proves the streams are decodable, not just a plausible header
            decoded = False
            for frame in c.decode(*(c.streams.video[:1] or c.streams.audio[:1])):
                decoded = frame is not None
                if video is not None:
                    # PyAV >= 14 exposes the display matrix on decoded frames
                    video["rotation"] = int(getattr(frame, "rotation", 0) or 0) % 360
                break
            if not decoded:
                out["reason"] = "no decodable frame"
                return out
    except Exception as e:  # PyAV raises many types (InvalidDataError, OSError, ValueError...)
        out["reason"] = f"unreadable media: {type(e).__name__}: {e}"
        return out
    out["ok"] = True
    return out


def video_info(path: str | os.PathLike) -> dict[str, Any]:
    """Duration, frame count estimate, fps, width/height of the video stream (from the probe);
    a file without a readable video stream raises ExtractionError."""
    from trimodal.domain import ExtractionError

    p = probe(path)
    if not p["ok"] or not p.get("video"):
        raise ExtractionError(p.get("reason") or "no video stream", stage="decode")
    v = p["video"]
    return {"duration": v["duration"] or p.get("duration"), "fps": v["fps"],
            "width": v["width"], "height": v["height"], "n_frames": v["n_frames"]}  # fmt: skip


#: a decode that yields less than this share of the declared duration is partial
PARTIAL_SHARE = 0.9


def is_partial(decoded: float | None, declared: float | None, errors: int = 0) -> bool:
    """Whether a decode stopped short: decode errors, or less than PARTIAL_SHARE of the
    duration the headers declare (a file cut at its end keeps a header that promises more)."""
    if errors:
        return True
    return bool(declared) and decoded is not None and decoded < PARTIAL_SHARE * float(declared)


def partial_reason(attrs: dict[str, Any]) -> str | None:
    """'decoded X s of Y s declared' for an extractor's per-video attrs that say
    ``partial_decode``, else None."""
    if not attrs.get("partial_decode"):
        return None
    decoded, declared = attrs.get("duration_decoded"), attrs.get("duration_declared")
    if decoded is None or not declared:
        return "partial decode (decode errors)"
    return f"decoded {float(decoded):.2f} s of {float(declared):.2f} s declared"


def read_probe(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
