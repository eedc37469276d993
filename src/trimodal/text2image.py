"""Optional stage: images generated from each video's summary, scored against its frames by CLIP.

The original study drew DALL-E mini images from the descriptions and compared them with the
video's most distant frames. Here a diffusers text-to-image pipeline (any hub id or local folder,
e.g. a Stable Diffusion checkpoint; needs internet weights, none is packaged offline) renders each
summary; CLIP embeds the generated images and the frames; generated-image -> video retrieval uses
the same metrics as everything else. Off unless the config switch is on:

    text2image: {enabled: false, model: <diffusers id>, n_images: 1, steps: 25, guidance: 7.5,
                 seed: 0, height: 512, width: 512}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trimodal.clip_match import _normalise, image_embeddings
from trimodal.retrieval import metrics_from_similarity


def load_pipeline(model_id: str, device: str = "cpu"):
    """A diffusers pipeline from a hub id (internet) or a local folder; safety checker off."""
    from diffusers import DiffusionPipeline

    from trimodal.models import resolve_model

    pipe = DiffusionPipeline.from_pretrained(resolve_model(model_id))
    if getattr(pipe, "safety_checker", None) is not None:
        pipe.safety_checker = None  # research use on corpus descriptions; also saves memory
    return pipe.to(device)


def generate_images(
    prompts: Mapping[str, str],
    pipe,
    n_images: int = 1,
    steps: int = 25,
    guidance: float = 7.5,
    seed: int = 0,
    height: int | None = None,
    width: int | None = None,
) -> dict[str, list[np.ndarray]]:
    """n_images RGB uint8 images per prompt, seeded per video so one video reruns alike."""
    import torch

    out: dict[str, list[np.ndarray]] = {}
    for k, (vid, prompt) in enumerate(prompts.items()):
        gen = torch.Generator(device="cpu").manual_seed(seed + k)
        kw: dict[str, Any] = {
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "num_images_per_prompt": n_images,
            "generator": gen,
            "output_type": "np",
        }
        if height:
            kw["height"], kw["width"] = height, width or height
        images = pipe(prompt, **kw).images  # float in [0, 1], (n, H, W, 3)
        out[vid] = [(np.clip(im, 0, 1) * 255).round().astype(np.uint8) for im in images]
    return out


def score_generated(
    generated: Mapping[str, Sequence[np.ndarray]],
    frames: Mapping[str, Sequence[np.ndarray]],
    clip_model,
    clip_processor,
) -> tuple[np.ndarray, np.ndarray]:
    """S[i, j] = cosine between video i's generated images and video j's frames (mean embeddings)."""
    import torch

    ids = np.asarray([v for v in generated if v in frames and len(generated[v])], dtype=object)
    if len(ids) < 2:
        raise ValueError("need at least two videos with generated images and frames")

    def mean_emb(groups):
        flat = [im for g in groups for im in g]
        emb = image_embeddings(flat, clip_model, clip_processor)
        bounds = np.cumsum([0] + [len(g) for g in groups])
        return _normalise(
            torch.stack([emb[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
        )

    g = mean_emb([generated[v] for v in ids])
    f = mean_emb([frames[v] for v in ids])
    return (g @ f.T).numpy().astype(np.float64), ids


def text2image_metrics(S: np.ndarray, labels: Sequence | None = None) -> dict[str, float]:
    """Generated image -> video retrieval, plus mean matched vs unmatched similarity."""
    S = np.asarray(S)
    m = metrics_from_similarity(S, labels)
    off = ~np.eye(len(S), dtype=bool)
    m["sim_matched"] = float(np.mean(np.diag(S)))
    m["sim_unmatched"] = float(np.mean(S[off]))
    return m


def run_text2image(
    summaries: Mapping[str, str],
    frames: Mapping[str, Sequence[np.ndarray]],
    config: Mapping[str, Any],
    clip_model,
    clip_processor,
    pipe=None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The whole stage behind its switch: None when disabled. labels: video id -> class."""
    if not config.get("enabled", False):
        return None
    if pipe is None:
        pipe = load_pipeline(config["model"], config.get("device", "cpu"))
    generated = generate_images(
        summaries,
        pipe,
        n_images=int(config.get("n_images", 1)),
        steps=int(config.get("steps", 25)),
        guidance=float(config.get("guidance", 7.5)),
        seed=int(config.get("seed", 0)),
        height=config.get("height"),
        width=config.get("width"),
    )
    S, ids = score_generated(generated, frames, clip_model, clip_processor)
    return {
        "ids": ids,
        "similarity": S,
        "metrics": text2image_metrics(S, None if labels is None else [labels.get(v) for v in ids]),
        "generated": generated,
    }
