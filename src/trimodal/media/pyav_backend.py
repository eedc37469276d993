"""The PyAV back-end of :class:`trimodal.media.frames.FrameSampler`: one streaming decode.

A frame is picked by its presentation timestamp (correct for variable frame rate), only picked
frames are converted to RGB, and the display rotation is applied with ``np.rot90``. Sparse
sampling of a long video seeks from keyframe to keyframe where the container seeks exactly. It
reads any file PyAV opens, with memory bounded whatever the length (what the sampler uses for
large files and for what decord cannot read).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from trimodal.domain import ExtractionError
from trimodal.media.probe import PARTIAL_SHARE
from trimodal.media.sampling import (
    END_TOLERANCE_S,
    Frame,
    declared_duration,
    span_times,
    target_size,
)
from trimodal.plumbing.threads import job_threads

log = logging.getLogger("trimodal.media.frames")

#: PyAV seeks (instead of decoding through) only to targets at least this far ahead, and further
#: ahead than the longest keyframe interval seen: sparse sampling of long videos
SEEK_MIN_GAP_S = 2.0
#: containers whose seeks land exactly on the keyframe before a timestamp (indexed formats);
#: others (MPEG-PS/TS seek by byte position and overshoot) are always decoded through
SEEK_EXACT_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi"})


def read_pyav(s) -> Iterator[Frame]:
    """The sampled frames of FrameSampler `s` (its path, times or indices and size); writes
    ``s.stats`` and counts each frame with ``s.emit``."""
    import av

    s.stats["backend"] = "pyav"
    try:
        container = av.open(s.path, metadata_errors="ignore")
    except Exception as e:
        raise ExtractionError(f"unreadable video: {type(e).__name__}: {e}", "decode") from e
    with container:
        if not container.streams.video:
            raise ExtractionError("no video stream", stage="decode")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = job_threads()  # 0 (FFmpeg's default) is one per core
        duration = declared_duration(s.path) or _count_duration(s, stream)
        if s.indices is not None:
            s.stats.update(duration=duration, n_targets=len(s.indices))
            yield from _pyav_indices(s, container, stream)
            return
        times, length = span_times(s, duration)
        s.stats.update(duration=length, n_targets=len(times))
        yield from _pyav_stream(s, container, stream, times)


def _count_duration(s, stream) -> float:
    """Duration from packet timestamps (one demux pass, no decoding) when headers lack it."""
    import av

    last = 0.0
    with av.open(s.path, metadata_errors="ignore") as c:
        for p in c.demux(c.streams.video[0]):
            if p.pts is not None and p.time_base:
                last = max(last, float(p.pts * p.time_base))
    return max(last, 1e-3)


def _setup(s, vf) -> tuple[int, tuple[int, int] | None]:
    """Rotation and resize target from the first decoded frame."""
    rotation = int(getattr(vf, "rotation", 0) or 0) % 360
    w, h = vf.width, vf.height
    if rotation % 180:
        w, h = h, w
    s.stats.update(width=w, height=h)
    return rotation, target_size(w, h, s.size)


def _to_rgb(vf, rotation: int, tsize) -> np.ndarray:
    if tsize is not None:
        w, h = tsize if rotation % 180 == 0 else tsize[::-1]
        rgb = vf.reformat(width=w, height=h, format="rgb24").to_ndarray()
    else:
        rgb = vf.to_ndarray(format="rgb24")
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, rotation // 90))
    return rgb


def _pyav_indices(s, container, stream) -> Iterator[Frame]:
    """One decode pass emitting the frames at the requested ordinals."""
    wanted = [int(i) for i in s.indices if i >= 0]
    j, t0, rotation, tsize = 0, None, 0, None
    try:
        for index, vf in enumerate(container.decode(stream)):
            if j >= len(wanted):
                break
            t = vf.time if vf.time is not None else 0.0
            if t0 is None:
                t0 = t
                rotation, tsize = _setup(s, vf)
            if index == wanted[j]:
                yield s.emit(Frame(index, t - t0, _to_rgb(vf, rotation, tsize)))
                j += 1
    except Exception as e:
        s.stats.update(stopped_early=True, error=f"{type(e).__name__}: {e}")
        s.stats["decode_errors"] = s.stats.get("decode_errors", 0) + 1
    if j < len(wanted) and not s.stats["stopped_early"]:
        s.stats.update(stopped_early=True, error="fewer frames than requested")


def _pyav_stream(s, container, stream, times: np.ndarray) -> Iterator[Frame]:
    """Emit the frame shown at each target time (VFR-safe, by timestamp).

    Decodes forward; when the next target lies further ahead than the longest keyframe
    interval seen so far (and at least SEEK_MIN_GAP_S), it seeks to the keyframe before
    the target instead of decoding the frames in between: sparse sampling of a long video
    then costs one GOP per sampled frame, not the whole stream. After a seek, a frame's
    index is estimated as round(time x nominal frame rate) (exact at constant frame rate).
    Containers without exact seeks (MPEG-PS/TS) are decoded through.
    """
    k = 0  # next target
    prev = None  # (index, time, av.VideoFrame) of the last decoded frame
    t0 = None
    rotation = 0
    tsize = None
    index = -1
    rate = float(stream.guessed_rate or stream.average_rate or 0) or None
    fmt = set((container.format.name or "").split(","))
    can_seek = bool(s.seek and rate and stream.time_base is not None and fmt & SEEK_EXACT_FORMATS)
    last_key, gop = None, None  # keyframe interval (longest seen)
    seeked = landed = False  # a seek happened / first frame after the latest seek
    n_seeks = 0

    def convert(vf) -> np.ndarray:
        return _to_rgb(vf, rotation, tsize)

    try:
        decoder = [container.decode(stream)]  # replaced after each seek
        stream_frames = _restartable(decoder)
        for vf in stream_frames:
            index += 1
            if vf.time is None:
                can_seek = False
            t = vf.time if vf.time is not None else index / float(rate or 25)
            if t0 is None:
                t0 = t
                rotation, tsize = _setup(s, vf)
            t -= t0
            if seeked:
                index = round(t * rate)
            if vf.key_frame:
                if last_key is not None and t > last_key:
                    gop = max(gop or 0.0, t - last_key)
                last_key = t
            # frames shown at targets before this frame's time: the previous frame (or,
            # right after a seek that landed past the target, this one)
            while k < len(times) and times[k] + 1e-6 < t:
                if prev is not None:
                    yield s.emit(Frame(prev[0], prev[1], convert(prev[2])))
                elif landed:  # the seek overshot: keep this frame, stop seeking here
                    yield s.emit(Frame(index, t, convert(vf)))
                    can_seek = False
                k += 1
            landed = False
            if k >= len(times):
                break
            prev = (index, t, vf)
            # a segment's span far into the video: seek to it before the keyframe interval
            # is known (the seek lands on the keyframe before it, so no frame is missed)
            jump = max(gop, SEEK_MIN_GAP_S) if gop else None
            if jump is None and getattr(s, "span", None) is not None and not n_seeks:
                jump = SEEK_MIN_GAP_S
            if can_seek and jump is not None and times[k] - t > jump:
                target = int((times[k] + t0) / stream.time_base)
                container.seek(target, stream=stream, backward=True, any_frame=False)
                decoder[0] = container.decode(stream)
                prev, seeked, landed, last_key = None, True, True, None
                n_seeks += 1
    except Exception as e:  # corrupt data mid-stream: keep what was decoded
        s.stats.update(stopped_early=True, error=f"{type(e).__name__}: {e}")
        s.stats["decode_errors"] = s.stats.get("decode_errors", 0) + 1
        log.warning("decode stopped early in %s: %s", s.path, e)
    if prev is not None:  # where the picture's frames end (a partial decode's length)
        s.stats["frames_end"] = prev[1] + 1.0 / float(rate or 25)
    if k >= len(times) and not s.stats["stopped_early"] and getattr(s, "span", None) is None:
        _decode_on(s, stream_frames, t0, float(rate or 25))
    # end of stream: the last frame stays on screen until the end of the video; targets
    # far past it mean a truncated file (or a header that lies) and are dropped
    while k < len(times) and prev is not None and times[k] <= prev[1] + END_TOLERANCE_S:
        yield s.emit(Frame(prev[0], prev[1], convert(prev[2])))
        k += 1
    if k < len(times) and prev is not None and not s.stats["stopped_early"]:
        s.stats.update(
            stopped_early=True, error=f"frames end at {prev[1]:.2f}s of {times[-1]:.2f}s"
        )
    s.stats["n_seeks"] = n_seeks
    if not seeked:
        s.stats["n_video_frames_seen"] = index + 1


def _decode_on(s, frames: Iterator, t0: float, rate: float) -> None:
    """After the last target: decode on until the frames reach PARTIAL_SHARE of the declared
    duration (a short clip sampled at 1 fps stops decoding at 3 s of 4), so that a file cut at
    its end is judged by its own video stream; a decode error or frames that end short stop
    early. Costs the frames between the last target and that share only."""
    need = PARTIAL_SHARE * float(s.stats.get("duration") or 0.0)
    end = s.stats.get("frames_end", 0.0)
    try:
        for vf in frames:
            if end >= need or vf.time is None:
                return
            end = vf.time - t0 + 1.0 / rate
    except Exception as e:  # the cut: a decode error
        s.stats["decode_errors"] = s.stats.get("decode_errors", 0) + 1
        s.stats.update(stopped_early=True, error=f"{type(e).__name__}: {e}", frames_end=end)
        return
    if end < need:
        s.stats.update(
            stopped_early=True,
            error=f"frames end at {end:.2f}s of {s.stats['duration']:.2f}s declared",
            frames_end=end,
        )


def _restartable(decoder: list) -> Iterator:
    """Frames from the decoder held in ``decoder[0]`` (a seek puts a fresh one there)."""
    while True:
        try:
            yield next(decoder[0])
        except StopIteration:
            return
