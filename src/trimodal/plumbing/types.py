"""The data types every layer shares: one video's inputs, one extractor's output, and the error
for a bad input. They sit at the bottom of the package, so decoding, text sources, stores and
resource guards need nothing from the extractor plug-in layer above them.
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
        return track_time(knots, self.span[0]), track_time(knots, self.span[1])


def track_time(knots: dict, t: float) -> float:
    """The earliest time of the AD track that plays at video time `t`, from the piecewise-
    linear knots {"track": [...], "video": [...]} (video times non-decreasing: the video
    pauses, video time flat, while an extended clip plays; the clip paused at `t` is included).
    """
    track = np.asarray(knots["track"], dtype=np.float64)
    video = np.asarray(knots["video"], dtype=np.float64)
    if len(track) == 0:
        return float(t)
    i = int(np.searchsorted(video, t, side="left"))
    if i == 0:
        return float(track[0] + (t - video[0]))
    if i == len(video):
        return float(track[-1] + (t - video[-1]))
    a, b = video[i - 1], video[i]  # a < t <= b
    return float(track[i - 1] + (t - a) * (track[i] - track[i - 1]) / (b - a))


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
