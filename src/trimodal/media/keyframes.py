"""Key-frame selection as the study did it for ViViT: k-means over uniformly sampled frames.

Up to ``n_uniform`` (400) frames spread uniformly over the video are decoded small (32x32 RGB),
clustered with k-means (k = the video model's number of input frames), and the frame nearest each
centre is kept. The result is k distinct frame indices in time order; a video with fewer
decodable frames than k gets its frames repeated evenly (np.linspace), still in time order.
"""

from __future__ import annotations

import numpy as np

from trimodal.domain import ExtractionError
from trimodal.media.frames import frames_at, partial_attrs, sample_frames, video_info


def select_keyframes(
    path,
    k: int,
    n_uniform: int = 400,
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
    backend: str = "auto",
    stats: dict | None = None,
) -> np.ndarray:
    """k frame indices (sorted; distinct when the video has >= k frames). `stats` (when given)
    gets the uniform pass's decode statistics and ``partial_attrs`` (frames.partial_attrs)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    info = video_info(path)
    n_total = info.get("n_frames") or int((info.get("duration") or 0) * (info.get("fps") or 0))
    n = max(k, min(n_uniform, n_total)) if n_total else n_uniform
    sampler = sample_frames(path, n_frames=n, size=size, backend=backend)
    frames = list(sampler)
    if not frames:
        raise ExtractionError("no decodable video frame", stage="decode")
    if stats is not None:  # one uniform slice per frame: the step after the last one seen
        step = float(sampler.stats.get("duration") or 0.0) / n
        stats.update(
            sampler.stats, partial_attrs=partial_attrs(sampler.stats, frames[-1].time, step)
        )
    # uniform sampling of a short video picks some frames twice: keep each frame once
    by_index = {f.index: f for f in frames}
    indices = np.array(sorted(by_index), dtype=np.int64)
    if len(indices) <= k:
        return indices[np.round(np.linspace(0, len(indices) - 1, k)).astype(int)]
    x = np.stack([by_index[i].rgb.reshape(-1) for i in indices]).astype(np.float32) / 255.0
    # a few hundred small frames: one thread is faster than OpenMP threads on a busy machine
    with threadpool_limits(1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(x)
    chosen: set[int] = set()
    for c in km.cluster_centers_:
        order = np.argsort(((x - c) ** 2).sum(axis=1))
        # nearest frame not already taken by another centre (duplicate frames can tie)
        chosen.add(int(next(j for j in order if int(j) not in chosen)))
    return np.sort(indices[sorted(chosen)])


def read_frames_at(path, indices, size=None, backend: str = "auto") -> list[np.ndarray]:
    """RGB frames at the given indices (repeats allowed), each decoded once."""
    wanted = np.asarray(indices, dtype=np.int64)
    got = {f.index: f.rgb for f in frames_at(path, np.unique(wanted), size=size, backend=backend)}
    last = max(got)
    return [got.get(int(i), got[last]) for i in wanted]
