"""CLIP image embeddings of sampled video frames (any CLIP hub id or local folder).

The study compared each video's description and DALL-E images with its frames in CLIP's joint
space. This extractor puts the frames there once, per video, so the CLIP stage (text matching,
generated images, trimodal.clip_stage) only has to embed texts and generated images with the same
model: windows = (n_frames, projection_dim) unit-norm image embeddings (CLIPModel's
get_image_features), times [t, t + step]; pooled mean / max / attn / mean_max; a `frames` table
with the decoded frame number of each window, so distinct-frame selection can name real frames.

No CLIP weights are packaged offline: the model is a hub id (openai/clip-vit-base-patch32, needs
internet) or a local folder holding a CLIPModel and its CLIPProcessor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trimodal.extractors.base import (
    DECODE_BACKEND,
    MAX_FRAMES,
    POOLED,
    ExtractionError,
    Extractor,
    Features,
    Param,
    VideoItem,
)
from trimodal.extractors.frame_embedding import batched
from trimodal.media.frames import prefetch, sample_frames
from trimodal.pooling import pool_all
from trimodal.progress import progress


def decode_short_side(image_processor) -> int:
    """Short side to decode frames at: the processor's resize target (it never upscales)."""
    size = getattr(image_processor, "size", None) or {}
    if "shortest_edge" in size:
        return int(size["shortest_edge"])
    return int(min(size.get("height", 224), size.get("width", 224)))


class ClipFramesExtractor(Extractor):
    name = "clip_frames"
    modality = "video"
    PARAMS = {
        "fps": Param(float, 1.0, "frames sampled per second", gt=0),
        "max_frames": MAX_FRAMES,
        "batch_size": Param(int, 32, "frames per forward pass", ge=1),
        "backend": DECODE_BACKEND,
    }
    POOLINGS = POOLED

    def load(self) -> None:
        from trimodal.clip_match import load_clip

        if not self.model_spec:
            raise ValueError("clip_frames needs a model (CLIP hub id or local folder)")
        self.net, self.processor = load_clip(self.model_spec, self.device)

    def extract(self, item: VideoItem) -> Features:
        from trimodal.clip_match import image_embeddings

        self.ensure_loaded()
        fps = float(self.param("fps"))
        batch_size = int(self.param("batch_size"))
        sampler = sample_frames(
            item.video,
            fps=fps,
            max_frames=self.param("max_frames"),
            size=decode_short_side(self.processor.image_processor),
            backend=self.param("backend"),
        )
        embs, times, indices = [], [], []
        for batch in progress(prefetch(batched(sampler, batch_size)), f"{item.video_id} frames"):
            embs.append(
                image_embeddings([f.rgb for f in batch], self.net, self.processor, batch_size)
                .float()
                .numpy()
            )
            times.extend(f.time for f in batch)
            indices.extend(f.index for f in batch)
        if not embs:
            raise ExtractionError("no decodable video frame", stage="decode")
        emb = np.concatenate(embs)
        st = sampler.stats
        n_grid = max(1, int(np.ceil(st.get("duration", 0) * fps - 1e-9)))
        step = st["duration"] / st["n_targets"] if st.get("n_targets", 0) < n_grid else 1.0 / fps
        t = np.asarray(times, dtype=np.float64)
        return Features(
            windows=emb,
            times=np.stack([t, t + step], axis=1),
            pooled=pool_all(emb),
            tables={"frames": pd.DataFrame({"index": np.asarray(indices, np.int64), "time": t})},
            attrs={
                **self.model_attrs(),
                "n_frames": len(emb),
                "fps": fps,
                "embedding": "clip_image_projection_unit_norm",
                "projection_dim": int(emb.shape[1]),
                "decode_backend": st["backend"],
                "stopped_early": bool(st["stopped_early"]),
                "decode_error": st["error"],
            },
        )
