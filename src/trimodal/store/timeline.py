"""One clock for every modality of a video: each extractor's windows resampled to common bins.

Each store keeps its own time axis: frame times (1 per second, or spread over a long video),
0.96 s audio windows with a 0.48 s hop, Whisper segments of any length. To relate "what is said"
to "what is seen" at a moment, `timeline` puts them on one clock in seconds, in bins of `step`
seconds from 0 to the video's duration, with one rule per kind of track:

- frames (a video extractor's windows; a frame stands for the instant it is shown): the mean of
  the frames whose time falls in the bin; `weight` = number of frames;
- audio (an audio extractor's windows, each covering [start, end]): the mean of the windows
  weighted by how many seconds of each overlap the bin; `weight` = seconds covered;
- transcript (a store with a `segments` table: start, end, text, as Whisper writes it): the text
  of every segment that overlaps the bin, in time order; `weight` = number of segments.

A bin with no data has NaN values (and empty text). Stores with neither windows nor segments for
the video (pooled-only text embeddings, clip-level ViViT) are listed in `skipped`. The AD track
is a second audio track of the same video, so its transcript shares the video's clock. Example
in docs/timeline.md.

An AD track assembled from clips (trimodal.corpus.ad_track, the QuerYD importer) runs ahead of
the video where an ``extended`` clip paused it; give its time map (the sheet's ``ad_map``) as
``ad_map`` and the windows and segments of every store read from the AD track (``params.source
== "ad_audio"``, or the names in ``ad_stores``) are moved from track time to video time first.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from trimodal.store import features as store

KINDS = ("frames", "audio", "transcript")


@dataclass
class Track:
    name: str
    kind: str  # one of KINDS
    weight: np.ndarray  # (n_bins,) frames / seconds of overlap / segments in each bin
    values: np.ndarray | None = None  # (n_bins, d), NaN where the bin has no data
    text: list[str] | None = None  # transcript tracks: the text of each bin


@dataclass
class Timeline:
    video_id: str
    step: float
    edges: np.ndarray  # (n_bins + 1,) seconds
    tracks: dict[str, Track] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def starts(self) -> np.ndarray:
        return self.edges[:-1]

    @property
    def ends(self) -> np.ndarray:
        return self.edges[1:]

    def bin_of(self, t: float) -> int:
        """Index of the bin holding time t (the last bin holds the end of the video)."""
        return int(
            min(max(np.searchsorted(self.edges, t, side="right") - 1, 0), len(self.starts) - 1)
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per bin: start, end, each track's weight and each transcript's text."""
        df = pd.DataFrame({"start": self.starts, "end": self.ends})
        for name, tr in self.tracks.items():
            df[f"{name}:weight"] = tr.weight
            if tr.text is not None:
                df[f"{name}:text"] = tr.text
        return df


# --------------------------------------------------------------------------- resampling rules


def bin_edges(duration: float, step: float) -> np.ndarray:
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    n = max(1, math.ceil(duration / step - 1e-9))
    return np.arange(n + 1, dtype=np.float64) * step


def _nan_rows(n: int, d: int) -> np.ndarray:
    return np.full((n, d), np.nan, dtype=np.float64)


def frames_in_bins(values: np.ndarray, times: np.ndarray, edges: np.ndarray):
    """Mean of the frames whose time falls in each bin, and the count per bin."""
    values = np.asarray(values, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64).reshape(len(values), -1)[:, 0]
    n = len(edges) - 1
    b = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n - 1)
    count = np.bincount(b, minlength=n).astype(np.float64)
    sums = np.zeros((n, values.shape[1]))
    np.add.at(sums, b, values)
    out = _nan_rows(n, values.shape[1])
    has = count > 0
    out[has] = sums[has] / count[has, None]
    return out, count


def overlap_matrix(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """O[b, i]: seconds of window i ([start, end]) inside bin b."""
    times = np.asarray(times, dtype=np.float64).reshape(-1, 2)
    lo = np.maximum(edges[:-1, None], times[None, :, 0])
    hi = np.minimum(edges[1:, None], times[None, :, 1])
    return np.clip(hi - lo, 0.0, None)


def windows_in_bins(values: np.ndarray, times: np.ndarray, edges: np.ndarray):
    """Overlap-weighted mean of the windows in each bin, and the seconds covered per bin."""
    values = np.asarray(values, dtype=np.float64)
    W = overlap_matrix(times, edges)
    covered = W.sum(axis=1)
    out = _nan_rows(len(W), values.shape[1])
    has = covered > 0
    out[has] = (W[has] @ values) / covered[has, None]
    return out, covered


def segments_in_bins(segments: pd.DataFrame, edges: np.ndarray):
    """Text of the segments overlapping each bin (time order), and the count per bin.

    A segment [s, e] lands in every bin with s < bin end and e > bin start; a zero-length one in
    the bin holding s.
    """
    n = len(edges) - 1
    texts: list[list[str]] = [[] for _ in range(n)]
    count = np.zeros(n)
    for s, e, text in segments.sort_values("start", kind="stable")[
        ["start", "end", "text"]
    ].itertuples(index=False):
        s, e = float(s), max(float(e), float(s))
        first = int(np.clip(np.searchsorted(edges, s, side="right") - 1, 0, n - 1))
        last = (
            first if e <= s else int(np.clip(np.searchsorted(edges, e, side="left") - 1, 0, n - 1))
        )
        for b in range(first, max(first, last) + 1):
            texts[b].append(str(text).strip())
            count[b] += 1
    return [" ".join(t for t in ts if t) for ts in texts], count


# --------------------------------------------------------------------------- reading stores


def _entry(path: str | os.PathLike, video_id: str) -> dict | None:
    """modality, windows/times and segments of one video in a store or a per-video file."""
    with h5py.File(path, "r") as h5:
        modality = str(h5.attrs.get("modality", ""))
        source = _source(h5.attrs.get("params"))
        if "video_ids" not in h5:  # a per-video file
            if str(h5.attrs.get("video_id")) != video_id or not h5.attrs.get("ok"):
                return None
            data = store.read_video_file(path)
            return {
                "modality": modality,
                "source": source,
                "windows": data.get("windows"),
                "times": data.get("times"),
                "segments": data["tables"].get("segments"),
            }
        if video_id not in set(h5["video_ids"].asstr()[()]):
            return None
        has_windows = f"windows/{video_id}" in h5
        has_segments = "tables/segments" in h5
    out = {"modality": modality, "source": source, "windows": None, "times": None}
    out["segments"] = None
    if has_windows:
        out["windows"], out["times"] = store.load_windows(path, video_id)
    if has_segments:
        seg = store.load_table(path, "segments")
        out["segments"] = seg[seg["video_id"] == video_id].drop(columns="video_id")
    return out


def _source(params) -> str:
    """The ``source`` param of a store's extractor ("" when it has none)."""
    if isinstance(params, bytes):
        params = params.decode()
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return ""
    return str(params.get("source", "")) if isinstance(params, dict) else ""


def _to_video_clock(e: dict, ad_map) -> dict:
    """Windows and segments of an AD-track store moved from track time to video time."""
    from trimodal.domain import track_to_video

    e = dict(e)
    if e.get("times") is not None:
        e["times"] = track_to_video(e["times"], ad_map)
    if e.get("segments") is not None:
        seg = e["segments"].copy()
        seg["start"] = track_to_video(seg["start"].to_numpy(dtype=float), ad_map)
        seg["end"] = track_to_video(seg["end"].to_numpy(dtype=float), ad_map)
        e["segments"] = seg
    return e


def _stores(stores: Mapping[str, str | os.PathLike] | str | os.PathLike) -> dict[str, Path]:
    if isinstance(stores, Mapping):
        return {k: Path(v) for k, v in stores.items()}
    return {p.stem: p for p in sorted(Path(stores).glob("*.h5"))}


def timeline(
    video_id: str,
    stores: Mapping[str, str | os.PathLike] | str | os.PathLike = "results/features",
    step: float = 1.0,
    duration: float | None = None,
    ad_map: str | os.PathLike | Mapping | None = None,
    ad_stores: Iterable[str] | None = None,
) -> Timeline:
    """Every extractor's data for one video on one clock (see the module doc).

    stores: name -> store (results/features/<name>.h5) or per-video file, or a folder of stores.
    duration: the clock's end (e.g. the probe's duration); by default the latest window or
    segment end over all tracks.
    ad_map: the time map of the video's assembled AD track (a ``.map.json`` path or its dict);
    it moves the stores read from the AD track (source ``ad_audio``, or named in `ad_stores`)
    to the video's clock.
    """
    if ad_map is not None and not isinstance(ad_map, Mapping):
        from trimodal.corpus.ad_track import load_map

        ad_map = load_map(ad_map)
    entries, skipped = {}, {}
    for name, path in _stores(stores).items():
        e = _entry(path, video_id)
        if e is not None and ad_map is not None:
            on_ad = e["source"] == "ad_audio" if ad_stores is None else name in set(ad_stores)
            if on_ad:
                e = _to_video_clock(e, ad_map)
        if e is None:
            skipped[name] = "no record for this video"
        elif e["segments"] is not None and e["windows"] is None:
            entries[name] = ("transcript", e)
        elif e["windows"] is not None and len(e["windows"]):
            entries[name] = ("audio" if e["modality"] == "audio" else "frames", e)
        else:
            skipped[name] = "no time axis (pooled only)"
    if duration is None:
        ends = [0.0]
        for kind, e in entries.values():
            if kind == "transcript":
                ends += list(e["segments"]["end"]) + list(e["segments"]["start"])
            elif kind == "frames":
                ends.append(float(np.max(e["times"][:, 0])) + 1e-6)
            else:
                ends.append(float(np.max(e["times"][:, 1])))
        duration = max(ends)
    edges = bin_edges(float(duration), float(step))
    tl = Timeline(video_id=video_id, step=float(step), edges=edges, skipped=skipped)
    for name, (kind, e) in entries.items():
        if kind == "transcript":
            text, count = segments_in_bins(e["segments"], edges)
            tl.tracks[name] = Track(name, kind, weight=count, text=text)
        elif kind == "frames":
            values, count = frames_in_bins(e["windows"], e["times"], edges)
            tl.tracks[name] = Track(name, kind, weight=count, values=values)
        else:
            values, covered = windows_in_bins(e["windows"], e["times"], edges)
            tl.tracks[name] = Track(name, kind, weight=covered, values=values)
    return tl
