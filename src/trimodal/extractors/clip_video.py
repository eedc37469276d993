"""Clip-level video embeddings with ViViT or VideoMAE (transformers), on k-means key frames.

The study fed ViViT 32 key frames (k-means over 400 uniform frames, see trimodal.media.keyframes) and
stored the whole last hidden state (3137 x 768 per video, 42 GB for the corpus) before reducing
it. Here only the reductions are kept: pooled "cls" (first token; for VideoMAE, which has no CLS
token, the first patch token), "mean" and "max" over tokens of the last hidden state.

The model is a hub id (google/vivit-b-16x2-kinetics400, MCG-NJU/videomae-base) or a local folder;
AutoModel picks VivitModel / VideoMAEModel from its config, and k = config.num_frames. Frames go
through the image processor of the same id (resize, crop, normalise).
"""

from __future__ import annotations

from trimodal.extractors.base import ExtractionError, Extractor, Features, Param, VideoItem
from trimodal.media.keyframes import read_frames_at, select_keyframes
from trimodal.plumbing.models import resolve_model


class ClipEmbeddingExtractor(Extractor):
    name = "clip_video"
    modality = "video"
    PARAMS = {
        "seed": Param(int, 0, "k-means seed of the key-frame choice"),
        "n_uniform": Param(int, 400, "uniform frames the key frames are chosen from", ge=1),
        "decode_short_side": Param(int, 256, "decoded short side in pixels", ge=1),
    }
    POOLINGS = ("cls", "mean", "max")

    def load(self) -> None:
        import torch
        from transformers import AutoImageProcessor, AutoModel

        if not self.model_spec:
            raise ValueError("clip_video needs a model (hub id or local folder)")
        path = resolve_model(self.model_spec)
        self.processor = AutoImageProcessor.from_pretrained(path)
        self.net = AutoModel.from_pretrained(path).eval().to(self.device)
        self.num_frames = int(self.net.config.num_frames)
        self._torch = torch

    def extract(self, item: VideoItem) -> Features:
        if item.span is not None:  # key frames are chosen over the whole file
            raise ExtractionError("segment rows (start/end) are not supported by clip_video")
        self.ensure_loaded()
        seed = int(self.param("seed"))
        n_uniform = int(self.param("n_uniform"))
        decode: dict = {}
        idx = select_keyframes(
            item.video, self.num_frames, n_uniform=n_uniform, seed=seed, stats=decode
        )
        # decode the chosen frames a little above the model's input size; the processor crops
        short = int(self.param("decode_short_side"))
        frames = read_frames_at(item.video, idx, size=short)
        if len(frames) != self.num_frames:
            raise ExtractionError(f"got {len(frames)} of {self.num_frames} key frames", "decode")
        inputs = self.processor([list(frames)], return_tensors="pt").to(self.device)
        with self._torch.no_grad():
            hidden = self.net(**inputs).last_hidden_state[0].float()  # (tokens, d)
        return Features(
            pooled={
                "cls": hidden[0].cpu().numpy(),
                "mean": hidden.mean(dim=0).cpu().numpy(),
                "max": hidden.max(dim=0).values.cpu().numpy(),
            },
            attrs={
                **self.model_attrs(),
                "architecture": type(self.net).__name__,
                "n_keyframes": len(idx),
                "n_tokens": int(hidden.shape[0]),
                "keyframes": ",".join(str(int(i)) for i in idx),
                **decode["partial_attrs"],  # a short decode is flagged
            },
        )
