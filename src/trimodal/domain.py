"""The domain's shared types: one video's inputs (a sheet row and what the probe learned), one
extractor's output, a feature set's name, the error for a bad input, and the AD track's time
map those inputs may carry. They sit at the bottom of the package, so decoding, text sources
and stores need nothing from the extractor plug-in layer above them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


class ExtractionError(Exception):
    """A bad input the extractor recognised; becomes an error record, not a crash."""

    def __init__(self, reason: str, stage: str = "extract"):
        super().__init__(reason)
        self.reason = reason
        self.stage = stage


@dataclass
class VideoItem:
    """One row of the sample sheet plus what the probe learned about its files."""

    video_id: str
    video: str | None = None
    ad_audio: str | None = None
    description: str | None = None
    label: str | None = None
    probe: dict[str, Any] = field(default_factory=dict)
    ad_probe: dict[str, Any] = field(default_factory=dict)
    #: text inputs produced by other extractors (e.g. transcripts), by source name
    texts: dict[str, str] = field(default_factory=dict)
    #: (start, end) seconds: the row is that time span of its video (a segment); None = whole.
    #: Extractors read only the span, and their times are relative to its start.
    span: tuple[float, float] | None = None
    #: JSON mapping AD-track time to video time ({"track": [...], "video": [...]} knots)
    ad_map: str | None = None

    def audio_span(self, source: str) -> tuple[float, float] | None:
        """The span to read of an audio source ("soundtrack" | "ad_audio"): the row's span, on
        the AD track's own clock when an ad_map says where video time lies on it."""
        if self.span is None or source != "ad_audio" or not self.ad_map:
            return self.span
        import json
        from pathlib import Path

        knots = json.loads(Path(self.ad_map).read_text())
        return video_to_track(self.span[0], knots), video_to_track(self.span[1], knots)


def knot_arrays(knots) -> tuple[np.ndarray, np.ndarray]:
    """(track times, video times) of an AD track's time map: a map dict ``{"track": [...],
    "video": [...]}`` or (track, video) pairs."""
    if isinstance(knots, dict):
        track, video = knots["track"], knots["video"]
    else:
        track, video = zip(*knots, strict=True) if len(knots) else ((), ())
    return np.asarray(track, dtype=np.float64), np.asarray(video, dtype=np.float64)


def track_to_video(t, knots) -> np.ndarray:
    """Video time of track time(s) `t` through the map's knots (a map dict or (track, video) pairs)."""
    track, video = knot_arrays(knots)
    t = np.asarray(t, dtype=np.float64)
    if not len(track):
        return t.copy()
    i = np.searchsorted(track, t, side="right") - 1
    before = i < 0
    i = np.clip(i, 0, len(track) - 1)
    nxt = np.minimum(i + 1, len(track) - 1)
    span = track[nxt] - track[i]
    last = nxt == i
    frac = np.where(span > 0, (t - track[i]) / np.where(span > 0, span, 1.0), 0.0)
    out = np.where(last, video[i] + (t - track[i]), video[i] + frac * (video[nxt] - video[i]))
    return np.where(before, t - track[0] + video[0], out)


def video_to_track(v: float, knots) -> float:
    """The earliest time of the AD track that plays at video time `v` (the inverse of
    :func:`track_to_video`): video times are non-decreasing, flat while an extended clip plays
    and the video pauses; the clip paused at `v` is included."""
    track, video = knot_arrays(knots)
    if not len(track):
        return float(v)
    if v <= video[0]:
        return float(track[0] + (v - video[0]))
    j = int(np.searchsorted(video, v, side="left"))
    if j >= len(video):
        return float(track[-1] + (v - video[-1]))
    if video[j] == v:
        return float(track[j])
    dv = video[j] - video[j - 1]
    return float(track[j - 1] + (v - video[j - 1]) / dv * (track[j] - track[j - 1]))


@dataclass
class Features:
    """What one extractor produced for one video.

    windows: (n, d) per-window / per-frame / per-chunk vectors, or None for text-only outputs.
    times: (n, 2) start and end of each window in seconds (None when windows is None).
    pooled: name -> (d,) vector (mean, max, attn, mean_max, or extractor-specific names).
    text: a text output (transcript, objects sentence, top labels) for the text extractors.
    tables: name -> small DataFrame (detections, segments), stored column by column.
    attrs: per-video scalars worth keeping (language, n_frames_decoded, ...).
    """

    windows: np.ndarray | None = None
    times: np.ndarray | None = None
    pooled: dict[str, np.ndarray] = field(default_factory=dict)
    text: str | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.windows is not None:
            self.windows = np.asarray(self.windows, dtype=np.float32)
            if self.windows.ndim != 2:
                raise ValueError(f"windows must be 2-D, got {self.windows.shape}")
            if self.times is None:
                raise ValueError("windows need their times")
            self.times = np.asarray(self.times, dtype=np.float64).reshape(len(self.windows), 2)
        self.pooled = {k: np.asarray(v, dtype=np.float32).ravel() for k, v in self.pooled.items()}


@dataclass(frozen=True)
class FeatureSet:
    """ "<extractor>:<pooling>" (config) / "<extractor>.<pooling>" (file names and wildcards),
    parsed once: the rules and the package ask it for the parts, the slug and the store."""

    extractor: str
    pooling: str = "mean"

    @classmethod
    def parse(cls, text: str) -> FeatureSet:
        """From the config's "<extractor>:<pooling>" or a path's "<extractor>.<pooling>"."""
        sep = ":" if ":" in text else "."
        extractor, _, pooling = str(text).partition(sep)
        return cls(extractor, pooling or "mean")

    def __str__(self) -> str:
        return f"{self.extractor}:{self.pooling}"

    @property
    def slug(self) -> str:
        """File-safe spelling, used in result paths and wildcards."""
        return f"{self.extractor}.{self.pooling}"

    def store(self, features_dir: str = "results/features") -> str:
        """The feature store this set reads."""
        return f"{features_dir}/{self.extractor}.h5"
