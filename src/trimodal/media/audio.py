"""Streamed audio decoding: any container's first audio stream as mono float32 at 16 kHz.

Extractors never hold a whole soundtrack: :func:`stream_audio` yields chunks of ``chunk_s``
seconds (PyAV decodes packet by packet and resamples with ``av.AudioResampler``), and
:func:`iter_windows` cuts fixed analysis windows across chunk borders with a carry-over buffer, so
the framing is exactly the one a whole-file array would get. Peak memory is then a function of
the chunk size, not the length of the file (see ``bench/bench_audio.py --memory``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from trimodal.domain import ExtractionError
from trimodal.media.probe import is_partial, unreadable_reason

SAMPLE_RATE = 16000


def has_audio(probe: dict[str, Any] | None) -> bool:
    """Whether a probe dict (trimodal.media.probe) saw an audio stream."""
    return bool(probe) and probe.get("audio") is not None


def _declared_length(container, stream) -> float:
    """The audio stream's declared length in seconds (0.0: unknown): its header's duration, or
    Matroska's per-track DURATION tag (ffmpeg writes no stream duration to MKV/WebM), or the
    container's when there is no picture whose length it may be."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION") or (stream.metadata or {}).get("duration")
    if tag:
        try:
            h, m, sec = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            pass
    if container.duration and not container.streams.video:
        return container.duration / 1e6
    return 0.0


def _open_container(path: str | os.PathLike):
    """The media file opened by PyAV; ExtractionError(stage="decode") when it cannot be."""
    import av

    if unreadable := unreadable_reason(path):
        raise ExtractionError(f"cannot open media file: {unreadable}", stage="decode")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as e:
        raise ExtractionError(f"cannot open media file: {e}", stage="decode") from e


def _tolerant_frames(container, stream, stats: dict[str, Any], errors: list[str]) -> Iterator:
    """The stream's decoded frames, then None (to flush the resampler). A corrupt packet is
    skipped and a demuxer that gives up ends the stream; each counts in
    ``stats["decode_errors"]``, its message appended to `errors`."""
    import av

    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.error.FFmpegError as e:  # one bad packet: skip it, keep going
                stats["decode_errors"] += 1
                errors.append(str(e))
        yield None  # flush the resampler
    except av.error.FFmpegError as e:  # demuxer gave up: keep what was decoded
        stats["decode_errors"] += 1
        errors.append(str(e))
        yield None


def _span_samples(
    frames: Iterable, resampler, span: tuple[float, float] | None, sr: int, stats: dict[str, Any]
) -> Iterator[np.ndarray]:
    """The mono samples of `frames` at `sr` (non-empty float32 pieces), only those of the
    resampled stream inside `span` (``round(start * sr) <= n < round(end * sr)``), stopping
    at its end; each piece counts in ``stats["n_samples"]``."""
    lo, hi = (round(float(t) * sr) for t in span) if span is not None else (0, None)
    pos = 0  # samples of the decoded stream before `a` below
    for frame in frames:
        for out in resampler.resample(frame):
            a = out.to_ndarray().reshape(-1)
            done = False
            if span is not None:  # keep the part of `a` inside [lo, hi)
                start, pos = pos, pos + a.size
                a = a[max(0, lo - start) : max(0, hi - start)]
                done = pos >= hi
            if a.size:
                stats["n_samples"] += a.size
                yield a.astype(np.float32, copy=False)
            if done:
                return


def _fixed_chunks(pieces: Iterable[np.ndarray], chunk: int) -> Iterator[np.ndarray]:
    """`pieces` regrouped into arrays of `chunk` samples, the last one shorter."""
    parts: list[np.ndarray] = []
    n_buf = 0
    for a in pieces:
        parts.append(a)
        n_buf += a.size
        while n_buf >= chunk:
            buf = np.concatenate(parts)
            yield buf[:chunk]
            rest = buf[chunk:]
            parts, n_buf = ([rest] if rest.size else []), rest.size
    if n_buf:
        yield np.concatenate(parts)


def stream_audio(
    path: str | os.PathLike,
    sr: int = SAMPLE_RATE,
    chunk_s: float = 30.0,
    stats: dict[str, Any] | None = None,
    span: tuple[float, float] | None = None,
) -> Iterator[np.ndarray]:
    """Yield the first audio stream of `path` as mono float32 chunks of about `chunk_s` seconds.

    span: (start, end) seconds of a segment row: only the resampled samples
    ``round(start * sr) <= n < round(end * sr)`` of the decoded stream are yielded (the same
    samples as slicing the whole decoded signal; decoding runs through the samples before the
    span and stops at its end), so every time an extractor computes from them is relative to
    the span's start.

    A corrupt packet is skipped (its count goes to ``stats["decode_errors"]``) and decoding goes
    on, so a partly damaged file keeps what could be decoded; ``stats`` (when given) also gets
    ``n_samples``, ``duration_decoded`` and ``partial``. Raises ExtractionError(stage="decode")
    when the file cannot be opened, has no audio stream, or yields no sample at all.
    """
    import av

    stats = stats if stats is not None else {}
    stats.update(
        n_samples=0, decode_errors=0, partial=False, duration_decoded=0.0, duration_declared=0.0
    )
    chunk = max(1, int(round(chunk_s * sr)))
    errors: list[str] = []  # what each skipped packet (or the demuxer) said
    with _open_container(path) as container:
        if not container.streams.audio:
            raise ExtractionError("no audio stream", stage="decode")
        stream = container.streams.audio[0]
        # judged per stream (a soundtrack shorter than the picture is no partial decode);
        # unknown: decode errors only
        stats["duration_declared"] = _declared_length(container, stream)
        if span is not None and stats["duration_declared"]:  # a segment: its own length
            end = min(float(span[1]), stats["duration_declared"])
            stats["duration_declared"] = max(0.0, end - float(span[0]))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        frames = _tolerant_frames(container, stream, stats, errors)
        yield from _fixed_chunks(_span_samples(frames, resampler, span, sr, stats), chunk)
    stats["duration_decoded"] = stats["n_samples"] / sr
    # cut at its end: no decode error, but less sound than the header declares
    stats["partial"] = is_partial(
        stats["duration_decoded"], stats["duration_declared"], stats["decode_errors"]
    )
    if stats["n_samples"] == 0:
        reason = "undecodable audio: no sample decoded"
        if span is not None and not stats["decode_errors"]:
            reason = f"no audio sample in the segment {span[0]:g}-{span[1]:g} s"
        last_error = errors[-1] if errors else ""
        raise ExtractionError(f"{reason} ({last_error})" if last_error else reason, "decode")


def iter_windows(
    chunks: Iterable[np.ndarray],
    win_samples: int,
    hop_samples: int,
    pad_short: bool = False,
    tail: bool = False,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, window)`` for every full window of a chunked signal (cut along axis 0).

    Same windows as slicing the concatenated signal at ``0, hop, 2*hop, ...`` (a trailing partial
    window is dropped, like the official VGGish / YAMNet framing), so chunking never changes the
    result. ``tail`` also yields what follows the last full window's start (shorter than a
    window, when non-empty); ``pad_short`` makes a signal shorter than one window give one
    zero-padded window instead of none. Works on 1-D signals and on (n, ...) frame arrays.
    """
    if win_samples <= 0 or hop_samples <= 0:
        raise ValueError("win_samples and hop_samples must be positive")
    buf: np.ndarray | None = None
    buf_start = 0  # absolute index of buf[0]
    next_start = 0
    total = 0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32)
        total += len(chunk)
        buf = chunk if buf is None or not len(buf) else np.concatenate([buf, chunk])
        while next_start - buf_start + win_samples <= len(buf):
            i = next_start - buf_start
            yield next_start, buf[i : i + win_samples]
            next_start += hop_samples
        drop = min(next_start - buf_start, len(buf))  # samples no future window needs
        buf, buf_start = buf[drop:], buf_start + drop
    if buf is None:
        return
    if pad_short and 0 < total < win_samples:
        out = np.zeros((win_samples, *buf.shape[1:]), dtype=np.float32)
        out[: len(buf)] = buf
        yield 0, out
    elif tail and next_start < total:
        yield next_start, buf[next_start - buf_start :]


def batched_windows(
    windows: Iterable[tuple[int, np.ndarray]], batch: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Group ``(start, window)`` pairs into ``(starts (k,), windows (k, win))`` batches."""
    starts: list[int] = []
    wins: list[np.ndarray] = []
    for s, w in windows:
        starts.append(s)
        wins.append(w)
        if len(wins) == batch:
            yield np.asarray(starts), np.stack(wins)
            starts, wins = [], []
    if wins:
        yield np.asarray(starts), np.stack(wins)


def source_path(item, source: str) -> tuple[str, dict[str, Any]]:
    """The audio file an extractor reads for `source` ("soundtrack" | "ad_audio"), checked.

    Raises ExtractionError with a clear reason when that input is missing or has no audio, so
    the job writes an error record instead of crashing.
    """
    if source == "soundtrack":
        path, probe = item.video, item.probe
        what = "video"
    elif source == "ad_audio":
        path, probe = item.ad_audio, item.ad_probe
        what = "audio-description file"
        if not path or str(path) == "nan":
            raise ExtractionError("no ad_audio file for this video", stage="input")
    else:
        raise ValueError(f"unknown audio source {source!r}; use 'soundtrack' or 'ad_audio'")
    if not path or str(path) == "nan":
        raise ExtractionError(f"no {what} file given", stage="input")
    if probe:
        if probe.get("ok") is False:
            raise ExtractionError(
                f"unreadable {what}: {probe.get('reason') or 'probe failed'}", stage="decode"
            )
        if not has_audio(probe):
            raise ExtractionError("no audio stream", stage="decode")
    return str(path), probe or {}
