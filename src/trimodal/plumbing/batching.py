"""How many videos one job takes: batches sized from the corpus, in sheet order.

A job pays a fixed start-up (Python, imports, model load: 2.5-10 CPU-s here, shared/STARTUP.md)
however little it computes, so by default every probe and extractor job takes a batch of videos
(``batch: auto``). The rule, from the number of videos N:

    size = clamp(ceil(N / TARGET_JOBS), MIN_BATCH, MAX_BATCH)

- ``TARGET_JOBS`` (32) jobs per extractor fill a 32-core workstation or a SLURM allocation;
- at least ``MIN_BATCH`` (20) videos a job, so start-up stays a small part of a job on a laptop
  corpus (the 78-video demo: 4 jobs an extractor);
- at most ``MAX_BATCH`` (500), so a job stays minutes long and planning 100k videos stays a few
  thousand jobs (200 an extractor).

A 2,300-video corpus gets batches of 72 (32 jobs an extractor). ``batch: 1`` keeps one job per
video; ``batch: N`` fixes the size. Batches are consecutive runs of the sheet, so appending
videos changes only the last batch; a rerunning batch reuses every unchanged video's earlier
result (:mod:`trimodal.store.reuse`), so a batch's granularity costs a job start, not model calls.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

TARGET_JOBS = 32
MIN_BATCH = 20
MAX_BATCH = 500


def batch_size(setting: int | str | None, n_videos: int) -> int:
    """Videos per job for a ``batch:`` setting (an integer >= 1, or "auto"/None)."""
    if setting in (None, "auto"):
        size = min(max(math.ceil(n_videos / TARGET_JOBS), MIN_BATCH), MAX_BATCH)
        return max(1, min(size, n_videos))  # a corpus smaller than one batch is one batch
    size = int(setting)
    if size < 1:
        raise ValueError(f"batch must be 'auto' or an integer >= 1, got {setting!r}")
    return size


def make_batches(ids: Sequence[str], size: int) -> dict[str, list[str]]:
    """Batch name (b00000, b00001, ...) -> its consecutive ids."""
    return {f"b{k // size:05d}": list(ids[k : k + size]) for k in range(0, len(ids), size)}


#: set by a retried GPU job (its attempt): frames / chunks per forward pass are divided by it
SHRINK_ENV = "TRIMODAL_BATCH_SHRINK"


def model_batch(batch_size: int) -> int:
    """A model's batch size in this job: the configured one, halved for each retry of a GPU job
    that ran out of memory (``TRIMODAL_BATCH_SHRINK``), at least 1."""
    return max(1, int(batch_size) // max(1, int(os.environ.get(SHRINK_ENV) or 1)))


def shrink_for_attempt(attempt: int | None) -> None:
    """Record a job's attempt (1 first) as the divisor :func:`model_batch` applies."""
    os.environ[SHRINK_ENV] = str(2 ** max(0, int(attempt or 1) - 1))


def video_path(dep: str, video_id: str, ext: str) -> str:
    """A video's file from a job input that is either that file or the batch folder holding
    it (``<folder>/<video_id><ext>``): how a job finds a per-video file among its inputs."""
    if os.path.isdir(dep):
        return os.path.join(dep, f"{video_id}{ext}")
    return dep


def per_video_files(deps: Sequence[str], video_ids: Sequence[str], ext: str) -> list[str]:
    """Each video's file among a job's inputs, in `video_ids`' order: an input that is the
    file itself (``<video_id><ext>``), or a batch folder holding it. Raises for a video that
    no input holds (a plan and its inputs that disagree)."""
    found: dict[str, str] = {}
    for dep in deps:
        if os.path.isdir(dep):
            for entry in os.scandir(dep):
                if entry.name.endswith(ext):
                    found[entry.name[: -len(ext)]] = entry.path
        else:
            found[os.path.basename(dep)[: -len(ext)]] = dep
    lost = [v for v in video_ids if v not in found]
    if lost:
        raise FileNotFoundError(f"no input holds the file of {len(lost)} video(s), e.g. {lost[:3]}")
    return [found[v] for v in video_ids]
