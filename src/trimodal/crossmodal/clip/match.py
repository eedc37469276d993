"""CLIP text-video matching: a video's description (summarised to 77 tokens) against its frames.

The core, `clip_match`, takes texts and frames already in memory, so it is independent of how
frames are chosen; `video_frames` picks representative frames of a video file with the video
helpers (keyframes, or uniform sampling) when they are installed. Retrieval in both directions
(text -> video, video -> text) then uses the same metrics as the embedding mappings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from trimodal.extractors.clip_model import image_embeddings, text_embeddings


def video_embeddings(frames: Mapping[str, Sequence[np.ndarray]], ids, model, processor):
    """Per video: its frame embeddings (list of (k_i, d) tensors), in `ids` order."""
    flat, owner = [], []
    for i, vid in enumerate(ids):
        if len(frames[vid]) == 0:
            raise ValueError(f"video {vid} has no frame")
        flat.extend(frames[vid])
        owner.extend([i] * len(frames[vid]))
    emb = image_embeddings(flat, model, processor)
    owner = np.asarray(owner)
    return [emb[owner == i] for i in range(len(ids))]


def clip_match(
    texts: Mapping[str, str],
    frames: Mapping[str, Sequence[np.ndarray]],
    model,
    processor,
    frame_agg: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Similarity S[i, j] between text of video i and frames of video j, on common ids.

    frame_agg: "mean" compares the text with the normalised mean of the frame embeddings;
    "max" takes the best-matching frame (a description often names what only some frames show).
    """
    ids = np.asarray([v for v in texts if v in frames], dtype=object)
    if len(ids) < 2:
        raise ValueError("need at least two videos with both a text and frames")
    t = text_embeddings([texts[v] for v in ids], model, processor)
    per_video = video_embeddings(frames, ids, model, processor)
    S = match_similarity(t.numpy(), (e.numpy() for e in per_video), (frame_agg,))[frame_agg]
    return S, ids


FRAME_AGGS = ("mean", "max")


def match_similarity(
    text_emb: np.ndarray, frame_embs: Iterable[np.ndarray], aggs: Sequence[str] = FRAME_AGGS
) -> dict[str, np.ndarray]:
    """S[agg][i, j]: text i against the frames of video j, from unit-norm embeddings.

    "mean" compares the text with the normalised mean of the video's frame embeddings; "max"
    takes the best-matching frame (a description often names what only some frames show).
    frame_embs is consumed one video at a time, so a corpus of long videos never sits in memory.
    """
    for agg in aggs:
        if agg not in FRAME_AGGS:
            raise ValueError(f"frame_agg must be one of {FRAME_AGGS}, got {agg!r}")
    T = np.asarray(text_emb, dtype=np.float64)
    cols: dict[str, list[np.ndarray]] = {agg: [] for agg in aggs}
    for F in frame_embs:
        F = np.asarray(F, dtype=np.float64)
        if F.ndim != 2 or len(F) == 0:
            raise ValueError(f"a video needs a non-empty (n_frames, d) array, got {F.shape}")
        if "mean" in cols:
            m = F.mean(axis=0)
            cols["mean"].append(T @ (m / max(np.linalg.norm(m), 1e-12)))
        if "max" in cols:
            cols["max"].append((T @ F.T).max(axis=1))
    return {agg: np.stack(c, axis=1) for agg, c in cols.items()}


def video_frames(
    path: str | os.PathLike, k: int = 8, method: str = "keyframes", size=None
) -> list[np.ndarray]:
    """k representative RGB frames of a video file, through the video helpers (lazy import).

    method "keyframes": trimodal.media.keyframes.select_keyframes (k-means over uniformly sampled
    frames, the frame nearest each centre: mutually distinct frames, in the spirit of the study's
    32 most distant frames) then read_frames_at; "uniform": trimodal.media.frames.sample_frames
    with n_frames=k. size: optional resize passed to the readers (CLIP's processor resizes anyway).
    """
    if method == "keyframes":
        from trimodal.media.keyframes import read_frames_at, select_keyframes

        frames = read_frames_at(path, select_keyframes(path, k), size=size)
    elif method == "uniform":
        from trimodal.media.frames import sample_frames

        frames = list(sample_frames(path, fps=None, n_frames=k, size=size))
    else:
        raise ValueError(f"method must be 'keyframes' or 'uniform', got {method!r}")
    return _as_frame_list(frames)


def _as_frame_list(frames) -> list[np.ndarray]:
    """RGB uint8 arrays from arrays or from the video helpers' Frame tuples (`.rgb`)."""
    out = [np.asarray(getattr(f, "rgb", f)) for f in frames]
    if not out or any(f.ndim != 3 or f.shape[-1] != 3 for f in out):
        raise ValueError("expected RGB frames of shape (H, W, 3)")
    return out
