"""The k most mutually distant frames of a video: farthest-point selection on frame embeddings.

The study compared DALL-E images with "the 32 most mutually distant frames" of each video. Picking
the k frames whose smallest pairwise distance is largest is NP-hard; the greedy farthest-point
selection is the standard answer and a 2-approximation of it (every frame lies within d_k of the
picks, so any k frames have two within 2 d_k of each other). It starts from the farthest pair of
frames, then repeatedly adds the frame farthest from everything picked so far (lowest index on
ties), so it is deterministic.

It runs on the per-frame windows of any frame extractor (EfficientNet, CLIP, YOLO scores), read
from that extractor's per-video file; the result is itself a per-video file (windows = the chosen
frames' embeddings in time order, a `frames` table with their window rows, frame numbers, times,
selection rank and distance at selection), aggregated into a store like any extractor's.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from trimodal.domain import Features
from trimodal.extractors.pooling import pool_all
from trimodal.media.probe import read_probe
from trimodal.store import features as store

log = logging.getLogger("trimodal")

METRICS = ("cosine", "euclidean")


def _prepare(X: np.ndarray, metric: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"frame embeddings must be 2-D, got {X.shape}")
    if metric == "cosine":  # euclidean on unit vectors is monotone in the cosine distance
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    if metric != "euclidean":
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return X


def farthest_pair(X: np.ndarray, block_bytes: int = 2**26) -> tuple[int, int]:
    """(i, j), i < j, of the two rows farthest apart (first in row-major order on ties).

    Computed by blocks of rows, so 10,000 frames never need a 10,000 x 10,000 matrix at once.
    """
    n = len(X)
    if n < 2:
        raise ValueError("need at least two frames for a pair")
    sq = (X**2).sum(axis=1)
    step = max(1, block_bytes // (8 * n))
    best, pair = -1.0, (0, 1)
    for a in range(0, n, step):
        d2 = sq[a : a + step, None] + sq[None, :] - 2.0 * X[a : a + step] @ X.T
        rows = np.arange(len(d2))
        d2[rows, a + rows] = -np.inf  # a frame is not a pair with itself
        flat = int(np.argmax(d2))
        i, j = divmod(flat, n)
        if d2[i, j] > best + 1e-12 * max(1.0, best):
            best, pair = float(d2[i, j]), (a + i, j)
    i, j = pair
    return (i, j) if i < j else (j, i)


def farthest_point_selection(
    X: np.ndarray, k: int, metric: str = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of X in selection order (min(k, n) of them) and each pick's distance at selection.

    The first two picks are the farthest pair (both get the pair's distance); each later pick is
    the row whose distance to its nearest pick is largest.
    """
    X = _prepare(X, metric)
    n = len(X)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if n == 0:
        raise ValueError("no frame to select from")
    if n == 1:
        return np.array([0]), np.array([0.0])
    a, b = farthest_pair(X)
    picks = [a, b]
    gap = float(np.linalg.norm(X[a] - X[b]))
    dists = [gap, gap]
    nearest = np.minimum(np.linalg.norm(X - X[a], axis=1), np.linalg.norm(X - X[b], axis=1))
    nearest[[a, b]] = -np.inf
    for _ in range(min(k, n) - 2):
        p = int(np.argmax(nearest))
        picks.append(p)
        dists.append(float(nearest[p]))
        nearest = np.minimum(nearest, np.linalg.norm(X - X[p], axis=1))
        nearest[picks] = -np.inf
    picks, dists = picks[: min(k, n)], dists[: min(k, n)]
    return np.asarray(picks, dtype=np.int64), np.asarray(dists, dtype=np.float64)


def frame_numbers(source: dict[str, Any], times: np.ndarray, fps: float | None):
    """Frame number of each window: the decoded one when the extractor stored it (its `frames`
    table), else estimated from the window's time and the video's frame rate, else -1."""
    table = source.get("tables", {}).get("frames")
    if table is not None and "index" in table and len(table) == len(times):
        return table["index"].to_numpy(np.int64), "decoded"
    if fps:
        return np.floor(times * float(fps) + 1e-6).astype(np.int64), "estimated_from_fps"
    return np.full(len(times), -1, dtype=np.int64), "unknown"


def select_distinct(
    source: dict[str, Any], k: int, metric: str = "cosine", fps: float | None = None
) -> Features:
    """Features of the k most distant frames of one video's per-video file contents."""
    X, times = source["windows"], source["times"]
    order, dist = farthest_point_selection(X, k, metric)
    rank = np.empty(len(order), dtype=np.int64)
    in_time = np.sort(order)  # the chosen frames, kept in time order
    rank[np.searchsorted(in_time, order)] = np.arange(len(order))
    numbers, how = frame_numbers(source, times[:, 0], fps)
    by_row = dict(zip(order.tolist(), dist.tolist(), strict=True))
    table = pd.DataFrame(
        {
            "window": in_time,
            "frame_index": numbers[in_time],
            "time": times[in_time, 0],
            "rank": rank,
            "distance": [by_row[int(r)] for r in in_time],
        }
    )
    chosen = np.asarray(X, dtype=np.float32)[in_time]
    return Features(
        windows=chosen,
        times=times[in_time],
        pooled=pool_all(chosen),
        tables={"frames": table},
        attrs={
            "k": int(k),
            "metric": metric,
            "n_source_frames": len(X),
            "n_selected": len(in_time),
            "min_distance": float(dist.min()),
            "frame_index_source": how,
        },
    )


def distinct_frames_file(
    *,
    video_id: str,
    source_file: str,
    probe_json: str,
    output: str,
    name: str,
    spec: dict[str, Any],
) -> bool:
    """One video's distinct frames from its source extractor's per-video file; an error record
    (stage "source") when that file is an error record or has no frames. True when ok."""
    header = {
        "extractor": name,
        "kind": "distinct_frames",
        "modality": "video",
        "params": spec,
        "model": "",
        "source": spec["source"],
    }
    data = store.read_video_file(source_file)
    attrs = data["attrs"]
    error = None
    if not attrs.get("ok"):
        error = ("source", f"{spec['source']}: {attrs.get('stage')}: {attrs.get('reason')}")
    elif "windows" not in data or len(data["windows"]) == 0:
        error = ("source", f"{spec['source']} has no per-frame windows for this video")
    if error is not None:
        log.warning("%s: %s: error record (%s: %s)", video_id, name, *error)
        store.write_video_file(output, video_id, header, error=error)
        return False
    stream = (read_probe(probe_json).get("video") or {}).get("video") or {}
    features = select_distinct(
        data,
        k=int(spec.get("k", 32)),
        metric=spec.get("metric", "cosine"),
        fps=stream.get("fps"),
    )
    features.attrs["source_model"] = str(attrs.get("model", ""))
    store.write_video_file(output, video_id, header, features=features)
    log.info("%s: %s: %d of %d frames", video_id, name, len(features.windows), len(data["windows"]))
    return True
