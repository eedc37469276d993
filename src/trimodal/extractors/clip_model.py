"""The CLIP model itself: loading it (hub id or local folder) and unit-norm text and image
embeddings. Kept with the extractors, since the CLIP frame extractor is its first user; the
cross-modal CLIP matching builds on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_MODEL = "openai/clip-vit-base-patch32"


def load_clip(model_id: str = DEFAULT_MODEL, device: str = "cpu"):
    """(model, processor) from a hub id (needs internet) or a local folder."""
    from transformers import CLIPModel, CLIPProcessor

    from trimodal.plumbing.models import resolve_model

    path = resolve_model(model_id)
    model = CLIPModel.from_pretrained(path).to(device).eval()
    return model, CLIPProcessor.from_pretrained(path)


def _features(out) -> Any:
    """transformers 5 returns an output object (projection in pooler_output); 4.x a tensor."""
    import torch

    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _normalise(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def text_embeddings(texts: Sequence[str], model, processor, batch_size: int = 32):
    """Unit-norm CLIP text embeddings; texts beyond the context length are truncated."""
    import torch

    device = next(model.parameters()).device
    max_len = int(model.config.text_config.max_position_embeddings)
    chunks = []
    for start in range(0, len(texts), batch_size):
        enc = processor.tokenizer(
            list(texts[start : start + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_len,
            return_tensors="pt",
        )
        with torch.no_grad():
            chunks.append(_normalise(_features(model.get_text_features(**enc.to(device)))))
    return torch.cat(chunks).cpu()


def image_embeddings(images: Sequence[np.ndarray], model, processor, batch_size: int = 32):
    """Unit-norm CLIP image embeddings of RGB uint8 frames (H, W, 3)."""
    import torch

    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(images), batch_size):
        pix = processor.image_processor(
            images=[np.asarray(im) for im in images[start : start + batch_size]],
            return_tensors="pt",
        )["pixel_values"].to(device)
        with torch.no_grad():
            chunks.append(_normalise(_features(model.get_image_features(pixel_values=pix))))
    return torch.cat(chunks).cpu()
