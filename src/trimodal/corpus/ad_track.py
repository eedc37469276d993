"""One audio-description track per video, assembled from YouDescribe clips, on the video's clock.

A YouDescribe description is a list of clips, each a WAV file with a ``start_time`` on the
video's clock and a ``playback_type``:

- ``inline``: the clip plays over the running video; it is placed at its start and mixed with
  whatever else sounds there (two inline clips may overlap);
- ``extended``: the video pauses while the clip plays. The clip is placed at its start, and
  every later clip it would overlap is shifted to start after it (a queue: a shifted clip also
  pushes the clips after it).

Placement (:func:`place`), clips in order of ``start_time``: a clip starts on the track at
``max(start_time, end of the queue)``, where the queue ends where the last extended or shifted
clip ends. Clips never move earlier, and a clip that nothing precedes stays at its start, so the
track keeps the video's clock wherever no extended clip intervenes.

The time map (``<track>.map.json``: ``{"track": [...], "video": [...]}``, piecewise-linear
knots, both nondecreasing) takes track time back to video time: a knot (track start, video
start) per clip, plus (track end, video start) after an extended clip (the track runs while the
video stands still) and (track end, video start + length) after a shifted inline clip (its
speech runs at the video's pace; cut short where the next clip starts on the video's clock).
Between knots it is linear (a silent gap after a pause lets the video catch up); past the last
knot it runs at slope 1; where two knots share a track time (a shifted clip starts the instant
a pause ends) the later one holds from that instant on. So every clip's speech maps to its
own ``start_time``. The map's two directions are in :mod:`trimodal.domain` (``track_to_video``:
what ``trimodal.store.timeline`` uses to put the AD track's transcript segments at video time;
``video_to_track``: where a segment's span lies on the track).

Writing (:func:`build_track`) streams: the track is written block by block (``soundfile``), each
clip is read in blocks, downmixed and resampled once to the track's rate (``soxr`` streaming), so
memory is a few blocks per clip sounding at once, whatever the video's length. Mixed samples are
clipped to [-1, 1]; the track is 16-bit PCM WAV, written atomically, then its map (which also
holds the manifest of its inputs, written last). A track whose clips (path, size, mtime, start,
type), rate and minimum length are unchanged is not rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trimodal.domain import video_to_track
from trimodal.plumbing.atomic import atomic_path, write_json

MAP_FORMAT = 1
BLOCK = 1 << 16  # samples per output block (4 s at 16 kHz)


@dataclass(frozen=True)
class Clip:
    path: Path
    start: float  # seconds on the video's clock
    extended: bool = False  # playback_type == "extended": the video pauses while it plays
    label: str = ""  # for the record only (e.g. the clip's file name)


@dataclass(frozen=True)
class Placed:
    clip: Clip
    track_start: float
    length: float  # seconds, from the file's header


def clip_length(path: str | os.PathLike) -> float:
    """Length of an audio file in seconds, from its header only."""
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / float(info.samplerate)


def place(
    clips: Sequence[Clip], lengths: Sequence[float]
) -> tuple[list[Placed], list[tuple[float, float]]]:
    """Track start of every clip and the (track, video) knots of the time map (module doc)."""
    order = sorted(range(len(clips)), key=lambda i: (float(clips[i].start), i))
    placed: list[Placed] = []
    knots = [(0.0, 0.0)]
    queue_end, shifted_end = 0.0, False
    for i in order:
        c, length = clips[i], float(lengths[i])
        v = max(0.0, float(c.start))
        t = max(v, queue_end)
        if shifted_end and knots[-1][1] > v:  # the shifted clip before ends, on the video's
            knots[-1] = (knots[-1][0], v)  # clock, where this one starts
        knots.append((t, v))
        shifted_end = False
        if c.extended or t > v:
            queue_end = t + length
        if c.extended:
            knots.append((t + length, v))
        elif t > v:
            knots.append((t + length, v + length))
            shifted_end = True
        placed.append(Placed(c, t, length))
    return placed, knots


def load_map(path: str | os.PathLike) -> dict:
    """A time map written by :func:`build_track` (``track``, ``video``, ``clips``, ...)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or len(data.get("track", ())) != len(data.get("video", [0])):
        raise ValueError(f"{path}: not a track -> video time map")
    return data


def manifest(clips: Sequence[Clip], sr: int, min_length: float | None) -> str:
    """Hash of everything the track is built from: clip files (size, mtime), starts, types."""
    h = hashlib.sha256(f"format={MAP_FORMAT};sr={sr};min={min_length}".encode())
    for c in clips:
        try:
            st = os.stat(c.path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "absent"
        h.update(f"|{os.path.abspath(c.path)}:{stamp}:{c.start!r}:{c.extended}".encode())
    return h.hexdigest()


def _clip_blocks(path: Path, sr: int, block: int) -> Iterator[np.ndarray]:
    """The clip as mono float32 blocks at `sr` (resampled once, streamed)."""
    import soundfile as sf
    import soxr

    with sf.SoundFile(str(path)) as f:
        rs = None if f.samplerate == sr else soxr.ResampleStream(f.samplerate, sr, 1, "float32")
        for x in f.blocks(blocksize=block, dtype="float32", always_2d=True):
            mono = x.mean(axis=1, dtype=np.float32)
            yield mono if rs is None else rs.resample_chunk(mono)
        if rs is not None:
            yield rs.resample_chunk(np.zeros(0, np.float32), last=True)


class _Reader:
    """Pulls exactly n samples at a time from a clip's block stream."""

    def __init__(self, path: Path, sr: int, block: int):
        self._it = _clip_blocks(path, sr, block)
        self._buf = np.zeros(0, np.float32)
        self.done = False

    def take(self, n: int) -> np.ndarray:
        while len(self._buf) < n and not self.done:
            try:
                self._buf = np.concatenate([self._buf, next(self._it)])
            except StopIteration:
                self.done = True
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    @property
    def exhausted(self) -> bool:
        return self.done and not len(self._buf)


def build_track(
    clips: Sequence[Clip],
    out_wav: str | os.PathLike,
    map_path: str | os.PathLike | None = None,
    sr: int = 16000,
    min_length: float | None = None,
    block: int = BLOCK,
    force: bool = False,
) -> dict:
    """Write the AD track of `clips` to `out_wav` and its time map to `map_path`; return the map.

    `min_length`: the video's duration, so the track covers the whole video on its clock.
    Clips whose file is absent or unreadable raise; the caller (the importer) leaves them out
    and reports them. With unchanged inputs the existing track is kept (``"reused": True``).
    """
    out_wav = Path(out_wav)
    map_path = Path(map_path) if map_path else out_wav.with_suffix(".map.json")
    digest = manifest(clips, sr, min_length)
    if not force and out_wav.is_file() and map_path.is_file():
        try:
            old = load_map(map_path)
        except (ValueError, OSError):
            old = {}
        if old.get("manifest") == digest:
            return {**old, "reused": True}
    lengths = [clip_length(c.path) for c in clips]
    placed, knots = place(clips, lengths)
    end = max([p.track_start + p.length for p in placed], default=0.0)
    if min_length:
        end = max(end, video_to_track(float(min_length), knots))
    n_total = max(1, int(math.ceil(end * sr)))
    starts = [int(round(p.track_start * sr)) for p in placed]
    order = sorted(range(len(placed)), key=lambda i: starts[i])
    import soundfile as sf

    active: list[tuple[int, _Reader]] = []
    k = 0
    with atomic_path(out_wav) as tmp:
        with sf.SoundFile(str(tmp), "w", samplerate=sr, channels=1, subtype="PCM_16",
                          format="WAV") as out:  # fmt: skip
            for pos in range(0, n_total, block):
                n = min(block, n_total - pos)
                while k < len(order) and starts[order[k]] < pos + n:
                    i = order[k]
                    active.append((starts[i], _Reader(placed[i].clip.path, sr, block)))
                    k += 1
                buf = np.zeros(n, np.float32)
                for s, reader in active:
                    off = max(0, s - pos)
                    x = reader.take(n - off)
                    buf[off : off + len(x)] += x
                active = [(s, r) for s, r in active if not r.exhausted]
                out.write(np.clip(buf, -1.0, 1.0))
    info = {
        "format": MAP_FORMAT,
        "track": [round(t, 6) for t, _ in knots],
        "video": [round(v, 6) for _, v in knots],
        "sr": sr,
        "duration": n_total / sr,
        "clips": [
            {
                "file": str(p.clip.path),
                "label": p.clip.label,
                "video_start": p.clip.start,
                "track_start": round(p.track_start, 6),
                "length": round(p.length, 6),
                "playback_type": "extended" if p.clip.extended else "inline",
            }
            for p in placed
        ],
        "manifest": digest,
    }
    write_json(map_path, info, indent=1)
    return {**info, "reused": False}
