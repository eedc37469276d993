"""Sampled-frame access that never holds a whole video in memory.

`sample_frames` yields ``Frame(index, time_s, rgb)`` in time order, at ``fps`` frames per second
of video or as ``n_frames`` uniformly spaced frames, resized on decode (which frames and at what
size: :mod:`trimodal.media.sampling`). Two back-ends give the same frames:

- decord (:mod:`trimodal.media.decord_backend`: fast, random access);
- PyAV (:mod:`trimodal.media.pyav_backend`: one streaming decode pass, memory bounded whatever
  the length), for files over DECORD_MAX_BYTES and for what decord cannot open or seek in (an
  MPEG-4 part 2 .mkv) or reports no valid timestamps for (MPEG-PS .mpg).

`frames_at` reads given frame indices with the same rules. A decoding error mid-stream stops at
the last good frame: the sampler's ``stats`` say how many frames were sampled and why it
stopped; zero frames raises ExtractionError.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import numpy as np

from trimodal.domain import ExtractionError
from trimodal.media.decord_backend import decord_available, read_decord
from trimodal.media.prefetch import prefetch  # noqa: F401 - the frame loop's overlap
from trimodal.media.probe import (
    is_partial,
    unreadable_reason,
    video_info,  # noqa: F401 - header facts, read by the probe
)
from trimodal.media.pyav_backend import read_pyav
from trimodal.media.sampling import Frame, target_times  # noqa: F401 - the public names

log = logging.getLogger(__name__)

#: "auto" reads files larger than this with PyAV: decord's seeks on a long file make transient
#: allocations of ~1-1.8 GB (a 3.6 GB, 40-min 1080p mp4; 0.2 GB on 1 min of the same video),
#: PyAV's streaming decode stays at ~0.13 GB whatever the length (bench/bench_video.py --memory)
DECORD_MAX_BYTES = 2**30


class FrameSampler:
    """Iterator of sampled frames; ``stats`` holds what happened (set while iterating)."""

    def __init__(
        self,
        path,
        fps: float | None = 1.0,
        n_frames: int | None = None,
        max_frames: int | None = None,
        size=None,
        backend: str = "auto",
        indices=None,
        seek: bool = True,
        span=None,
    ):
        if not path or not os.path.exists(str(path)):
            raise ExtractionError(f"video file not found: {path}", stage="decode")
        if unreadable := unreadable_reason(path):
            raise ExtractionError(f"{unreadable}: {path}", stage="decode")
        if n_frames is not None and int(n_frames) < 1:
            raise ValueError("n_frames must be >= 1")
        self.path = str(path)
        self.fps, self.n_frames, self.max_frames, self.size = fps, n_frames, max_frames, size
        if backend not in ("auto", "decord", "pyav"):
            raise ValueError(f"unknown backend {backend!r}")
        self.requested_backend = backend
        #: PyAV may seek past frames it does not need (sparse sampling, see _pyav_stream)
        self.seek = bool(seek)
        #: explicit frame indices to read instead of times (sorted, distinct)
        self.indices = None if indices is None else np.unique(np.asarray(indices, dtype=np.int64))
        #: (start, end) seconds of a segment row: frames sampled inside it only, their times
        #: relative to its start (indices stay the video's frame numbers)
        self.span = None if span is None else (float(span[0]), float(span[1]))
        if self.span is not None and self.indices is not None:
            raise ValueError("a span samples by time, not by frame indices")
        self.stats: dict = {"n_sampled": 0, "backend": "", "stopped_early": False, "error": "",
                            "decode_errors": 0}  # fmt: skip
        self._it: Iterator[Frame] | None = None

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        if self._it is None:
            self._it = self._run()
        return next(self._it)

    # -- dispatch -------------------------------------------------------------------------------
    def _run(self) -> Iterator[Frame]:
        gen = None
        use_decord = self.requested_backend == "decord" or (
            self.requested_backend == "auto" and os.path.getsize(self.path) <= DECORD_MAX_BYTES
        )
        if use_decord and decord_available():
            try:
                gen = read_decord(self)
                first = next(gen)
            except StopIteration:
                first = None
            except ExtractionError:
                raise
            except Exception as e:  # decord cannot open / read this file
                if self.requested_backend == "decord":
                    raise ExtractionError(f"decord cannot read the video: {e}", "decode") from e
                log.info("decord failed on %s (%s); falling back to PyAV", self.path, e)
                gen = None
                self.stats = {"n_sampled": 0, "backend": "", "stopped_early": False,
                              "error": "", "decode_errors": 0, "decord_error": f"{type(e).__name__}: {e}"[:200]}  # fmt: skip
            if gen is not None:
                if first is not None:
                    yield first
                    yield from gen
                self._finish()
                return
        elif self.requested_backend == "decord":
            raise ExtractionError("decord is not installed", stage="decode")
        elif self.requested_backend == "auto" and use_decord is False:
            log.info("%s is over %d bytes: PyAV keeps memory bounded", self.path, DECORD_MAX_BYTES)
        yield from read_pyav(self)
        self._finish()

    def _finish(self) -> None:
        if self.stats["n_sampled"] == 0:
            reason = self.stats.get("error") or "no frame decoded"
            raise ExtractionError(f"no decodable video frame: {reason}", stage="decode")

    def emit(self, frame: Frame) -> Frame:
        """Count a frame a back-end hands out (``stats["n_sampled"]``); a span's frame gets its
        time from the span's start."""
        self.stats["n_sampled"] += 1
        if self.span is not None:
            frame = frame._replace(time=frame.time - self.span[0])
        return frame


def sample_frames(
    path,
    fps: float | None = 1.0,
    n_frames: int | None = None,
    max_frames: int | None = None,
    size=None,
    backend: str = "auto",
    seek: bool = True,
    span=None,
) -> FrameSampler:
    """Iterate sampled frames of a video (see module doc); read ``.stats`` after iterating.

    span: (start, end) seconds: sample that part only (the fps grid from its start; n_frames
    and max_frames over its length); frame times are relative to its start."""
    return FrameSampler(path, fps, n_frames, max_frames, size, backend, seek=seek, span=span)


def frames_at(path, indices, size=None, backend: str = "auto") -> FrameSampler:
    """Iterate the frames at given frame indices (sorted, distinct), same back-end rules."""
    return FrameSampler(path, None, None, None, size, backend, indices=indices)


def partial_attrs(stats: dict, last_time: float | None, step: float) -> dict:
    """The per-video attributes of a frame decode that say whether it was partial: decoded and
    declared lengths of the video stream (decoded, when the decode stopped early: where the
    back-end saw the frames end, else the last sampled frame plus one sampling step), the decode errors, and ``partial_decode``:
    any decode error, or less than 90 % of the declared length (media.probe.is_partial)."""
    declared = float(stats.get("duration") or 0.0)
    decoded = declared
    if stats.get("stopped_early") and stats.get("frames_end") is not None:
        decoded = min(declared, float(stats["frames_end"]))  # the back-end saw where
    elif stats.get("stopped_early") and last_time is not None:
        decoded = min(declared, float(last_time) + step)
    errors = int(stats.get("decode_errors", 0))
    partial = bool(stats.get("stopped_early") or errors) and is_partial(decoded, declared, errors)
    return {
        "duration_decoded": decoded,
        "duration_declared": declared,
        "decode_errors": errors,
        "partial_decode": partial,
    }
