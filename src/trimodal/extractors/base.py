"""The contract every extractor follows.

One extractor = one class with a registry name. The workflow builds it once per job from the
rule's `params:` (model spec, parameters, device), calls :meth:`Extractor.extract` on one
:class:`VideoItem`, and writes the returned :class:`Features` (or the error) to one per-video file
with :func:`trimodal.store.write_video_file`. An extractor raises :class:`ExtractionError` for a
bad input it recognises (no audio stream, no decodable frame, empty text); the job turns that into
an error record, so one bad video never stops the run.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
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


class Extractor(ABC):
    """Base class: subclasses set `name` and `modality` and implement `load` and `extract`."""

    name: str = ""
    modality: str = ""  # "video" | "audio" | "text"

    def __init__(self, model: str | None = None, params: dict | None = None, device: str = "cpu"):
        self.model_spec = model
        self.params = dict(params or {})
        self.device = device
        self._loaded = False

    def load(self) -> None:  # noqa: B027 - optional hook: extractors without weights skip it
        """Load weights once; called lazily before the first extract."""

    def param(self, key: str, default: Any) -> Any:
        """params[key], or `default` when it is absent or null (`~` in YAML)."""
        v = self.params.get(key, default)
        return default if v is None else v

    def ensure_loaded(self) -> None:
        if not self._loaded:
            self.load()
            self._loaded = True

    def model_attrs(self) -> dict[str, Any]:
        """Attributes stored with every output: what model and parameters made it."""
        from trimodal.models import describe_model

        return {"model": self.model_spec or "", **describe_model(self.model_spec)}

    @abstractmethod
    def extract(self, item: VideoItem) -> Features:
        """Features for one video, or raise ExtractionError for a recognised bad input."""


#: registry name -> "module:Class"; modules are imported lazily so a job imports only its own
#: back-end (TensorFlow and torch must never share a process).
REGISTRY: dict[str, str] = {}


def register(name: str, target: str) -> None:
    REGISTRY[name] = target


def extractor_target(kind: str) -> tuple[str, str]:
    """(module, class name) of a registered kind, without importing the module."""
    # the built-in extractors register themselves in trimodal.extractors
    importlib.import_module("trimodal.extractors")
    try:
        module, cls = REGISTRY[kind].split(":")
    except KeyError:
        raise KeyError(f"unknown extractor kind {kind!r}; known: {sorted(REGISTRY)}") from None
    return module, cls


def get_extractor_class(kind: str) -> type[Extractor]:
    module, cls = extractor_target(kind)
    return getattr(importlib.import_module(module), cls)


def build_extractor(kind: str, model: str | None, params: dict | None, device: str = "cpu"):
    return get_extractor_class(kind)(model=model, params=params, device=device)
