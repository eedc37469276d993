"""Sampled-frame access that never holds a whole video in memory.

`sample_frames` yields ``Frame(index, time_s, rgb)`` in time order, at ``fps`` frames per second
of video or as ``n_frames`` uniformly spaced frames, resized on decode so a 4K frame never exists
at full size in Python. Two back-ends give the same frames:

- decord (fast, random access): frame indices are picked from its per-frame timestamps and read
  with ``get_batch`` on small chunks of indices; decord applies the display rotation itself.
- PyAV (fallback, for files over DECORD_MAX_BYTES, and for what decord cannot open): one streaming decode pass; a frame is picked
  by its presentation timestamp (correct for variable frame rate), only picked frames are
  converted to RGB, and the display rotation is applied with ``np.rot90``.

decord is not used where it misreads: files it cannot open or seek in (an MPEG-4 part 2 .mkv),
and files where it reports no valid timestamps (MPEG-PS .mpg, where its seeks also land on the
wrong frames); those go to PyAV. `frames_at` reads given frame indices with the same rules.

The frame shown at time t is "the last frame whose timestamp is <= t"; times are relative to the
first frame. A decoding error mid-stream stops at the last good frame: the sampler's ``stats``
say how many frames were sampled and why it stopped; zero frames raises ExtractionError.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

from trimodal.types import ExtractionError

log = logging.getLogger(__name__)

#: indices per decord get_batch call: bounds memory at CHUNK decoded frames
DECORD_CHUNK = 8
#: "auto" reads files larger than this with PyAV: decord's seeks on a long file make transient
#: allocations of ~1-1.8 GB (a 3.6 GB, 40-min 1080p mp4; 0.2 GB on 1 min of the same video),
#: PyAV's streaming decode stays at ~0.13 GB whatever the length (bench/bench_video.py --memory)
DECORD_MAX_BYTES = 2**30
#: PyAV seeks (instead of decoding through) only to targets at least this far ahead, and further
#: ahead than the longest keyframe interval seen: sparse sampling of long videos
SEEK_MIN_GAP_S = 2.0
#: containers whose seeks land exactly on the keyframe before a timestamp (indexed formats);
#: others (MPEG-PS/TS seek by byte position and overshoot) are always decoded through
SEEK_EXACT_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi"})
#: a target time further than this past the last decodable frame is dropped (truncated file)
END_TOLERANCE_S = 0.5


class Frame(NamedTuple):
    index: int  # frame number in presentation order (0-based)
    time: float  # seconds from the first frame
    rgb: np.ndarray  # (H, W, 3) uint8, display orientation


def _target_size(width: int, height: int, size) -> tuple[int, int] | None:
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


def _pick_indices(frame_times: np.ndarray, times: np.ndarray) -> np.ndarray:
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


def _malloc_trim() -> None:
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
    ):
        if not path or not os.path.exists(str(path)):
            raise ExtractionError(f"video file not found: {path}", stage="decode")
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
        self.stats: dict = {"n_sampled": 0, "backend": "", "stopped_early": False, "error": ""}
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
                gen = self._decord()
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
                              "error": "", "decord_error": f"{type(e).__name__}: {e}"[:200]}  # fmt: skip
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
        yield from self._pyav()
        self._finish()

    def _finish(self) -> None:
        if self.stats["n_sampled"] == 0:
            reason = self.stats.get("error") or "no frame decoded"
            raise ExtractionError(f"no decodable video frame: {reason}", stage="decode")

    def _sampled(self, frame: Frame) -> Frame:
        self.stats["n_sampled"] += 1
        return frame

    # -- decord ---------------------------------------------------------------------------------
    def _decord(self) -> Iterator[Frame]:
        import decord

        vr0 = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
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
        tsize = _target_size(w0, h0, self.size)
        wh = {"width": tsize[0], "height": tsize[1]} if tsize is not None else {}
        del vr0

        vr = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1, **wh)
        duration = declared_duration(self.path) or float(ts[-1] + 1.0 / fps_avg)
        if self.indices is not None:
            idx = self.indices[(self.indices >= 0) & (self.indices < n)]
            if len(idx) < len(self.indices):
                self.stats.update(stopped_early=True, error=f"only {n} frames")
        else:
            times = target_times(duration, self.fps, self.n_frames, self.max_frames)
            keep = times <= ts[-1] + END_TOLERANCE_S
            if not keep.all():
                self.stats.update(
                    stopped_early=True, error=f"frames end at {ts[-1]:.2f}s of {duration:.2f}s"
                )
            idx = _pick_indices(ts, times[keep])
        self.stats.update(
            backend="decord", width=w0, height=h0, duration=duration, n_video_frames=n,
            n_targets=len(idx),
        )  # fmt: skip
        for start in range(0, len(idx), DECORD_CHUNK):
            chunk = [int(i) for i in idx[start : start + DECORD_CHUNK]]
            try:
                batch = vr.get_batch(chunk).asnumpy()
                _malloc_trim()
            except Exception as e:
                if self.stats["n_sampled"] == 0:
                    raise
                self.stats.update(stopped_early=True, error=f"{type(e).__name__}: {e}")
                return
            for i, rgb in zip(chunk, batch, strict=True):
                yield self._sampled(Frame(i, float(ts[i]), np.ascontiguousarray(rgb)))

    # -- PyAV -----------------------------------------------------------------------------------
    def _pyav(self) -> Iterator[Frame]:
        import av

        self.stats["backend"] = "pyav"
        try:
            container = av.open(self.path, metadata_errors="ignore")
        except Exception as e:
            raise ExtractionError(f"unreadable video: {type(e).__name__}: {e}", "decode") from e
        with container:
            if not container.streams.video:
                raise ExtractionError("no video stream", stage="decode")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            duration = declared_duration(self.path) or self._count_duration(stream)
            if self.indices is not None:
                self.stats.update(duration=duration, n_targets=len(self.indices))
                yield from self._pyav_indices(container, stream)
                return
            times = target_times(duration, self.fps, self.n_frames, self.max_frames)
            self.stats.update(duration=duration, n_targets=len(times))
            yield from self._pyav_stream(container, stream, times)

    def _count_duration(self, stream) -> float:
        """Duration from packet timestamps (one demux pass, no decoding) when headers lack it."""
        import av

        last = 0.0
        with av.open(self.path, metadata_errors="ignore") as c:
            for p in c.demux(c.streams.video[0]):
                if p.pts is not None and p.time_base:
                    last = max(last, float(p.pts * p.time_base))
        return max(last, 1e-3)

    def _setup(self, vf) -> tuple[int, tuple[int, int] | None]:
        """Rotation and resize target from the first decoded frame."""
        rotation = int(getattr(vf, "rotation", 0) or 0) % 360
        w, h = vf.width, vf.height
        if rotation % 180:
            w, h = h, w
        self.stats.update(width=w, height=h)
        return rotation, _target_size(w, h, self.size)

    @staticmethod
    def _to_rgb(vf, rotation: int, tsize) -> np.ndarray:
        if tsize is not None:
            w, h = tsize if rotation % 180 == 0 else tsize[::-1]
            rgb = vf.reformat(width=w, height=h, format="rgb24").to_ndarray()
        else:
            rgb = vf.to_ndarray(format="rgb24")
        if rotation:
            rgb = np.ascontiguousarray(np.rot90(rgb, rotation // 90))
        return rgb

    def _pyav_indices(self, container, stream) -> Iterator[Frame]:
        """One decode pass emitting the frames at the requested ordinals."""
        wanted = [int(i) for i in self.indices if i >= 0]
        j, t0, rotation, tsize = 0, None, 0, None
        try:
            for index, vf in enumerate(container.decode(stream)):
                if j >= len(wanted):
                    break
                t = vf.time if vf.time is not None else 0.0
                if t0 is None:
                    t0 = t
                    rotation, tsize = self._setup(vf)
                if index == wanted[j]:
                    yield self._sampled(Frame(index, t - t0, self._to_rgb(vf, rotation, tsize)))
                    j += 1
        except Exception as e:
            self.stats.update(stopped_early=True, error=f"{type(e).__name__}: {e}")
        if j < len(wanted) and not self.stats["stopped_early"]:
            self.stats.update(stopped_early=True, error="fewer frames than requested")

    def _pyav_stream(self, container, stream, times: np.ndarray) -> Iterator[Frame]:
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
        can_seek = bool(
            self.seek and rate and stream.time_base is not None and fmt & SEEK_EXACT_FORMATS
        )
        last_key, gop = None, None  # keyframe interval (longest seen)
        seeked = landed = False  # a seek happened / first frame after the latest seek
        n_seeks = 0

        def convert(vf) -> np.ndarray:
            return self._to_rgb(vf, rotation, tsize)

        try:
            decoder = [container.decode(stream)]  # replaced after each seek
            for vf in _restartable(decoder):
                index += 1
                if vf.time is None:
                    can_seek = False
                t = vf.time if vf.time is not None else index / float(rate or 25)
                if t0 is None:
                    t0 = t
                    rotation, tsize = self._setup(vf)
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
                        yield self._sampled(Frame(prev[0], prev[1], convert(prev[2])))
                    elif landed:  # the seek overshot: keep this frame, stop seeking here
                        yield self._sampled(Frame(index, t, convert(vf)))
                        can_seek = False
                    k += 1
                landed = False
                if k >= len(times):
                    break
                prev = (index, t, vf)
                if can_seek and gop and times[k] - t > max(gop, SEEK_MIN_GAP_S):
                    target = int((times[k] + t0) / stream.time_base)
                    container.seek(target, stream=stream, backward=True, any_frame=False)
                    decoder[0] = container.decode(stream)
                    prev, seeked, landed, last_key = None, True, True, None
                    n_seeks += 1
        except Exception as e:  # corrupt data mid-stream: keep what was decoded
            self.stats.update(stopped_early=True, error=f"{type(e).__name__}: {e}")
            log.warning("decode stopped early in %s: %s", self.path, e)
        # end of stream: the last frame stays on screen until the end of the video; targets
        # far past it mean a truncated file (or a header that lies) and are dropped
        while k < len(times) and prev is not None and times[k] <= prev[1] + END_TOLERANCE_S:
            yield self._sampled(Frame(prev[0], prev[1], convert(prev[2])))
            k += 1
        if k < len(times) and prev is not None and not self.stats["stopped_early"]:
            self.stats.update(
                stopped_early=True, error=f"frames end at {prev[1]:.2f}s of {times[-1]:.2f}s"
            )
        self.stats["n_seeks"] = n_seeks
        if not seeked:
            self.stats["n_video_frames_seen"] = index + 1


def _restartable(decoder: list) -> Iterator:
    """Frames from the decoder held in ``decoder[0]`` (a seek puts a fresh one there)."""
    while True:
        try:
            yield next(decoder[0])
        except StopIteration:
            return


def prefetch(items: Iterable, depth: int = 1) -> Iterator:
    """Yield from `items` while a background thread already produces the next `depth` items.

    With batches of sampled frames, decoding the next batch (PyAV and decord release the GIL)
    overlaps the model's work on this one; memory grows by `depth` batches only. Exceptions
    raised while producing are re-raised here; closing early stops the producer.
    """
    if depth <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for x in items:
                if not put((True, x)):
                    return
            put((True, done))
        except BaseException as e:  # handed to the consumer
            put((False, e))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, x = q.get()
            if not ok:
                raise x
            if x is done:
                return
            yield x
    finally:
        stop.set()
        worker.join()


def sample_frames(
    path,
    fps: float | None = 1.0,
    n_frames: int | None = None,
    max_frames: int | None = None,
    size=None,
    backend: str = "auto",
    seek: bool = True,
) -> FrameSampler:
    """Iterate sampled frames of a video (see module doc); read ``.stats`` after iterating."""
    return FrameSampler(path, fps, n_frames, max_frames, size, backend, seek=seek)


def frames_at(path, indices, size=None, backend: str = "auto") -> FrameSampler:
    """Iterate the frames at given frame indices (sorted, distinct), same back-end rules."""
    return FrameSampler(path, None, None, None, size, backend, indices=indices)


def video_info(path, backend: str = "auto") -> dict:
    """Duration, frame count estimate, fps, display width/height (without decoding much)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            if not c.streams.video:
                raise ExtractionError("no video stream", stage="decode")
            s = c.streams.video[0]
            fps = float(s.average_rate or s.guessed_rate or 0) or None
            dur = float(s.duration * s.time_base) if s.duration else None
            dur = dur or (c.duration / 1e6 if c.duration else None)
            return {"duration": dur, "fps": fps, "width": s.codec_context.width,
                    "height": s.codec_context.height, "n_frames": int(s.frames) or None}  # fmt: skip
    except ExtractionError:
        raise
    except Exception as e:
        raise ExtractionError(f"unreadable video: {type(e).__name__}: {e}", "decode") from e
