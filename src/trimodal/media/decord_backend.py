"""The decord back-end of :class:`trimodal.media.frames.FrameSampler`: random access.

Frame indices are picked from decord's per-frame timestamps and read with ``get_batch`` on small
chunks (DECORD_CHUNK decoded frames in memory at most); decord applies the display rotation
itself. A file without valid timestamps (MPEG-PS .mpg, where its seeks also land on the wrong
frames) raises, and the sampler falls back to PyAV.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import numpy as np

from trimodal.media.sampling import (
    END_TOLERANCE_S,
    Frame,
    declared_duration,
    pick_indices,
    span_times,
    target_size,
)
from trimodal.plumbing.threads import job_threads

#: indices per decord get_batch call: bounds memory at CHUNK decoded frames
DECORD_CHUNK = 8


def malloc_trim() -> None:
    """Give freed heap back to the OS (glibc); a no-op elsewhere."""
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
        except OSError:
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None


def decord_available() -> bool:
    return importlib.util.find_spec("decord") is not None


def read_decord(s) -> Iterator[Frame]:
    """The sampled frames of FrameSampler `s` (its path, times or indices and size); writes
    ``s.stats`` and counts each frame with ``s.emit``. Raises where decord cannot read."""
    import decord

    vr0 = decord.VideoReader(s.path, ctx=decord.cpu(0), num_threads=job_threads())
    n = len(vr0)
    if n == 0:
        raise RuntimeError("decord sees zero frames")
    h0, w0 = vr0[0].shape[:2]  # display orientation (decord applies rotation)
    fps_avg = float(vr0.get_avg_fps() or 0) or 25.0
    ts = vr0.get_frame_timestamp(range(n))[:, 0].astype(np.float64)
    if not (np.all(np.isfinite(ts)) and np.all(np.diff(ts) >= 0) and ts.min() > -1e6):
        # seen on MPEG-PS (.mpg): garbage timestamps, and its seeks land on wrong frames
        raise RuntimeError("decord reports no valid frame timestamps")
    ts = ts - ts[0]
    tsize = target_size(w0, h0, s.size)
    wh = {"width": tsize[0], "height": tsize[1]} if tsize is not None else {}
    del vr0

    vr = decord.VideoReader(s.path, ctx=decord.cpu(0), num_threads=job_threads(), **wh)
    duration = declared_duration(s.path) or float(ts[-1] + 1.0 / fps_avg)
    if s.indices is not None:
        idx = s.indices[(s.indices >= 0) & (s.indices < n)]
        if len(idx) < len(s.indices):
            s.stats.update(stopped_early=True, error=f"only {n} frames")
    else:
        times, duration = span_times(s, duration)
        keep = times <= ts[-1] + END_TOLERANCE_S
        if not keep.all():
            s.stats.update(
                stopped_early=True, error=f"frames end at {ts[-1]:.2f}s of {duration:.2f}s"
            )
        idx = pick_indices(ts, times[keep])
    s.stats.update(
        backend="decord", width=w0, height=h0, duration=duration, n_video_frames=n,
        n_targets=len(idx),
    )  # fmt: skip
    for start in range(0, len(idx), DECORD_CHUNK):
        chunk = [int(i) for i in idx[start : start + DECORD_CHUNK]]
        try:
            batch = vr.get_batch(chunk).asnumpy()
            malloc_trim()
        except Exception as e:
            if s.stats["n_sampled"] == 0:
                raise
            s.stats.update(stopped_early=True, error=f"{type(e).__name__}: {e}")
            s.stats["decode_errors"] = s.stats.get("decode_errors", 0) + 1
            return
        for i, rgb in zip(chunk, batch, strict=True):
            yield s.emit(Frame(i, float(ts[i]), np.ascontiguousarray(rgb)))
