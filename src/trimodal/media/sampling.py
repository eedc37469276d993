"""Which frames to sample and at what size: the back-end-independent part of frame access.

A frame is picked by time: the frame shown at time t is "the last frame whose timestamp is
<= t", times relative to the first frame (:func:`pick_indices`). Frames are resized on decode
to :func:`target_size`, so a 4K frame never exists at full size in Python.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

#: a target time further than this past the last decodable frame is dropped (truncated file)
END_TOLERANCE_S = 0.5


class Frame(NamedTuple):
    index: int  # frame number in presentation order (0-based)
    time: float  # seconds from the first frame
    rgb: np.ndarray  # (H, W, 3) uint8, display orientation


def target_size(width: int, height: int, size) -> tuple[int, int] | None:
    """(w, h) to resize a display-oriented frame to: int = short side, (w, h) = exact."""
    if size is None:
        return None
    if isinstance(size, int | float):
        short = min(width, height)
        if short <= size:
            return None  # never upscale
        scale = float(size) / short
        return max(1, round(width * scale)), max(1, round(height * scale))
    w, h = (int(v) for v in size)
    return w, h


def target_times(
    duration: float, fps: float | None, n_frames: int | None, max_frames: int | None
) -> np.ndarray:
    """Sampling times in seconds.

    fps mode: 0, 1/fps, 2/fps, ... < duration. n_frames mode: the centres of n equal slices of the
    duration. When the fps grid holds more than max_frames times, max_frames times spread
    uniformly over the whole video are used instead, so a long video is covered end to end.
    """
    if n_frames is not None:
        n = int(n_frames)
        return (np.arange(n) + 0.5) * (duration / n)
    fps = float(fps or 1.0)
    n = max(1, math.ceil(duration * fps - 1e-9))
    if max_frames is not None and n > max_frames:
        return (np.arange(int(max_frames)) + 0.5) * (duration / int(max_frames))
    return np.arange(n) / fps


def span_times(s, duration: float) -> tuple[np.ndarray, float]:
    """Sampling times of FrameSampler `s` (seconds from the first frame) and the length they
    cover: the whole video, or only the sampler's span (start, end) of a segment row, its
    grid starting at the span's start (the sampler reports times relative to it)."""
    if s.span is None:
        return target_times(duration, s.fps, s.n_frames, s.max_frames), duration
    start, end = (float(x) for x in s.span)
    length = max(min(end, duration) - start, 1e-3)
    return start + target_times(length, s.fps, s.n_frames, s.max_frames), length


def pick_indices(frame_times: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the frame shown at each time (last frame with timestamp <= t)."""
    idx = np.searchsorted(frame_times, times + 1e-6, side="right") - 1
    return np.clip(idx, 0, len(frame_times) - 1)


def declared_duration(path) -> float | None:
    """Video duration from the headers (stream, else container), shared by both back-ends."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            if not c.streams.video:
                return None
            s = c.streams.video[0]
            if s.duration and s.time_base:
                return float(s.duration * s.time_base)
            return c.duration / 1e6 if c.duration else None
    except Exception:
        return None
