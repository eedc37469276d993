"""CLIP image embeddings of sampled video frames (any CLIP hub id or local folder).

The study compared each video's description and DALL-E images with its frames in CLIP's joint
space. This extractor puts the frames there once, per video, so the CLIP stage (text matching,
generated images, trimodal.stages.clip) only has to embed texts and generated images with the same
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
    POOLED,
    Features,
    Param,
    VideoItem,
)
from trimodal.extractors.frame_base import FRAME_PARAMS, FrameExtractor
from trimodal.extractors.pooling import pool_all


def decode_short_side(image_processor) -> int:
    """Short side to decode frames at: the processor's resize target (it never upscales)."""
    size = getattr(image_processor, "size", None) or {}
    if "shortest_edge" in size:
        return int(size["shortest_edge"])
    return int(min(size.get("height", 224), size.get("width", 224)))


class ClipFramesExtractor(FrameExtractor):
    name = "clip_frames"
    PARAMS = {**FRAME_PARAMS, "batch_size": Param(int, 32, "frames per forward pass", ge=1)}
    POOLINGS = POOLED

    def load(self) -> None:
        from trimodal.extractors.clip_model import load_clip

        if not self.model_spec:
            raise ValueError("clip_frames needs a model (CLIP hub id or local folder)")
        self.net, self.processor = load_clip(self.model_spec, self.device)

    def decode_size(self) -> int:
        return decode_short_side(self.processor.image_processor)

    def process(self, frames) -> np.ndarray:
        from trimodal.extractors.clip_model import image_embeddings

        images = [f.rgb for f in frames]
        return image_embeddings(images, self.net, self.processor, len(images)).float().numpy()

    def extract(self, item: VideoItem) -> Features:
        frames = self.run_frames(item, int(self.param("batch_size")))
        emb = np.concatenate(frames.outputs)
        t, step = frames.times, frames.grid_step()
        indices = frames.indices
        return Features(
            windows=emb,
            times=np.stack([t, t + step], axis=1),
            pooled=pool_all(emb),
            tables={"frames": pd.DataFrame({"index": np.asarray(indices, np.int64), "time": t})},
            attrs={
                **self.model_attrs(),
                **frames.decode_attrs(),
                "embedding": "clip_image_projection_unit_norm",
                "projection_dim": int(emb.shape[1]),
            },
        )
