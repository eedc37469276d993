"""The frame loop every frame model shares: sample at `fps`, decode the next batch while the
model runs on this one (prefetch), show progress, and keep the decoder's statistics.

A frame extractor (EfficientNet, YOLO, CLIP) then only loads its network and says what one
batch of frames becomes (:meth:`FrameExtractor.process`), as in v-iashin/video_features, where a
base extractor owns the frame loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trimodal.domain import ExtractionError, VideoItem
from trimodal.extractors.base import DECODE_BACKEND, MAX_FRAMES, Extractor, Param
from trimodal.media.frames import Frame, partial_attrs, prefetch, sample_frames
from trimodal.plumbing.batching import model_batch
from trimodal.plumbing.progress import progress

#: the sampling parameters of every frame extractor (each adds its own)
FRAME_PARAMS = {
    "fps": Param(float, 1.0, "frames sampled per second", gt=0),
    "max_frames": MAX_FRAMES,
    "backend": DECODE_BACKEND,
}


def batched(items: Iterable, n: int) -> Iterator[list]:
    """Consecutive lists of `n` items (the last one shorter)."""
    batch: list = []
    for x in items:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class FramePass:
    """One pass over a video's sampled frames: what :meth:`FrameExtractor.process` returned for
    each batch (in order), the frames' times and indices, and the decoder's statistics."""

    outputs: list[Any]
    times: np.ndarray
    indices: np.ndarray
    stats: dict[str, Any]
    fps: float
    attrs: dict[str, Any] = field(default_factory=dict)

    def grid_step(self) -> float:
        """Window length: 1/fps, or duration / n frames when max_frames thinned the grid."""
        st = self.stats
        n_grid = max(1, int(np.ceil(st.get("duration", 0) * self.fps - 1e-9)))
        if st.get("n_targets", 0) < n_grid:
            return st["duration"] / st["n_targets"]
        return 1.0 / self.fps

    def decode_attrs(self) -> dict[str, Any]:
        """The per-video attributes every frame extractor stores about its decoding, with the
        decoded and declared lengths (partial_decode: the frames stop short of the header's
        duration, as in a file cut at its end)."""
        return {
            "n_frames": len(self.times),
            "fps": self.fps,
            "decode_backend": self.stats["backend"],
            "stopped_early": bool(self.stats["stopped_early"]),
            "decode_error": self.stats["error"],
            **partial_attrs(
                self.stats, self.times[-1] if len(self.times) else None, self.grid_step()
            ),
        }


class FrameExtractor(Extractor):
    """Base of the extractors that run a network on sampled frames."""

    modality = "video"

    def decode_size(self) -> int | None:
        """Short side the frames are decoded at (None: the video's own size)."""
        return None

    def process(self, frames: list[Frame]) -> Any:
        """One batch of frames through the network (subclasses)."""
        raise NotImplementedError

    def run_frames(self, item: VideoItem, batch_size: int, label: str = "frames") -> FramePass:
        """:meth:`process` over every sampled frame, in batches; no frame is a decode error."""
        self.ensure_loaded()
        fps = float(self.param("fps"))
        sampler = sample_frames(
            item.video,
            fps=fps,
            max_frames=self.param("max_frames"),
            size=self.decode_size(),
            backend=self.param("backend"),
            span=item.span,  # a segment row: its span only, times from its start
        )
        outputs, times, indices = [], [], []
        batch_size = model_batch(batch_size)  # halved on each retry after a GPU OOM
        batches = prefetch(batched(sampler, batch_size))  # decode overlaps the model
        for batch in progress(batches, f"{item.video_id} {label}", unit="batch"):
            outputs.append(self.process(batch))
            times.extend(f.time for f in batch)
            indices.extend(f.index for f in batch)
        if not outputs:
            raise ExtractionError("no decodable video frame", stage="decode")
        return FramePass(
            outputs=outputs,
            times=np.asarray(times, dtype=np.float64),
            indices=np.asarray(indices, dtype=np.int64),
            stats=sampler.stats,
            fps=fps,
        )
