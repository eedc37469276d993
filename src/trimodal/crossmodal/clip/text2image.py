"""Optional stage: images generated from each video's summary, scored against its frames by CLIP.

The original study drew DALL-E mini images from the descriptions and compared them with the
video's most distant frames. Here a diffusers text-to-image pipeline (any hub id or local folder,
e.g. a Stable Diffusion checkpoint; needs internet weights, none is packaged offline) renders each
summary; CLIP embeds the generated images and the frames; generated-image -> video retrieval uses
the same metrics as everything else. In the workflow it is the `text2image` rule of the CLIP
stage (config `clip_stage.text2image`, trimodal.stages.clip), off unless configured.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trimodal.crossmodal.retrieval import metrics_from_similarity
from trimodal.plumbing.atomic import write_file


def load_pipeline(model_id: str, device: str = "cpu"):
    """A diffusers pipeline from a hub id (internet) or a local folder; safety checker off."""
    from diffusers import DiffusionPipeline

    from trimodal.plumbing.models import resolve_model

    pipe = DiffusionPipeline.from_pretrained(resolve_model(model_id))
    if getattr(pipe, "safety_checker", None) is not None:
        pipe.safety_checker = None  # research use on corpus descriptions; also saves memory
    return pipe.to(device)


def video_seed(seed: int, video_id: str) -> int:
    """A per-video seed that does not depend on the video's position in the corpus, so adding a
    video never changes another video's images."""
    digest = hashlib.sha256(f"{seed}:{video_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def image_settings(
    model_id: str = "",
    n_images: int = 1,
    steps: int = 25,
    guidance: float = 7.5,
    seed: int = 0,
    height: int | None = None,
    width: int | None = None,
) -> dict[str, Any]:
    """Everything that decides the images drawn for a prompt (the cache key, with the prompt)."""
    return {
        "model": str(model_id),
        "n_images": int(n_images),
        "steps": int(steps),
        "guidance": float(guidance),
        "seed": int(seed),
        "height": None if height is None else int(height),
        "width": None if width is None else int(width),
    }


def cache_paths(
    cache_dir: str | os.PathLike, video_id: str, prompt: str, settings: Mapping[str, Any]
) -> list[Path]:
    """Where the images of one (video, prompt, model and settings) are cached, one per image."""
    blob = json.dumps({"video_id": video_id, "prompt": prompt, **settings}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return [Path(cache_dir) / f"{video_id}-{key}-{i}.png" for i in range(settings["n_images"])]


def _read_cached(paths: list[Path]) -> list[np.ndarray] | None:
    if not all(p.exists() for p in paths):
        return None
    from PIL import Image

    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def _write_cached(paths: list[Path], images: list[np.ndarray]) -> None:
    from PIL import Image

    for p, im in zip(paths, images, strict=True):
        write_file(p, lambda tmp, im=im: Image.fromarray(im).save(tmp, format="PNG"))


def generate_images(
    prompts: Mapping[str, str],
    pipe,
    n_images: int = 1,
    steps: int = 25,
    guidance: float = 7.5,
    seed: int = 0,
    height: int | None = None,
    width: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    model_id: str = "",
) -> dict[str, list[np.ndarray]]:
    """n_images RGB uint8 images per prompt, seeded per video id so one video reruns alike.

    cache_dir: images already generated with the same (model, prompt, settings) are read back
    from it instead of generated again, and new ones are written there as they are made, so a
    job killed half-way through a corpus loses nothing it already drew.
    """
    import torch

    settings = image_settings(model_id, n_images, steps, guidance, seed, height, width)
    out: dict[str, list[np.ndarray]] = {}
    for vid, prompt in prompts.items():
        paths: list[Path] = []
        if cache_dir is not None:
            paths = cache_paths(cache_dir, vid, prompt, settings)
            cached = _read_cached(paths)
            if cached is not None:
                out[vid] = cached
                continue
        gen = torch.Generator(device="cpu").manual_seed(video_seed(seed, vid))
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
        if paths:
            _write_cached(paths, out[vid])
    return out


def mean_unit(E: np.ndarray) -> np.ndarray:
    """The normalised mean of a group of unit-norm embeddings (one video's frames or images)."""
    m = np.asarray(E, dtype=np.float64).mean(axis=0)
    return m / max(float(np.linalg.norm(m)), 1e-12)


def own_vs_others(S: np.ndarray) -> dict[str, np.ndarray]:
    """Per query i: similarity to its own video, the mean and max over the other videos, and
    whether the own video beats every other (rank 1) and the others' mean."""
    S = np.asarray(S, dtype=np.float64)
    off = ~np.eye(len(S), dtype=bool)
    others = np.where(off, S, np.nan)
    own = np.diag(S)
    return {
        "sim_own": own,
        "sim_others_mean": np.nanmean(others, axis=1),
        "sim_others_max": np.nanmax(others, axis=1),
        "closer_than_every_other": own > np.nanmax(others, axis=1),
        "closer_than_others_mean": own > np.nanmean(others, axis=1),
    }


def text2image_metrics(S: np.ndarray, labels: Sequence | None = None) -> dict[str, float]:
    """Generated image -> video retrieval, plus mean matched vs unmatched similarity."""
    S = np.asarray(S)
    m = metrics_from_similarity(S, labels)
    off = ~np.eye(len(S), dtype=bool)
    m["sim_matched"] = float(np.mean(np.diag(S)))
    m["sim_unmatched"] = float(np.mean(S[off]))
    per = own_vs_others(S)
    m["share_closer_than_others_mean"] = float(np.mean(per["closer_than_others_mean"]))
    return m
