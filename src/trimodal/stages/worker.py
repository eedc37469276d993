"""Per-video isolation of an extract job (``video_timeout_s``): its videos run in one worker
process (:class:`trimodal.plumbing.isolation.Worker`) that loads the model once; a video past
its limit kills that worker and its helpers, becomes a ``timeout`` error record, and a fresh
worker (one more model load) goes on with the next video.

Only with a timeout: without one the job computes in its own process, as the isolation costs a
worker start and a second model load per job (docs/benchmarks.md, issue 32).
"""

from __future__ import annotations

from trimodal.plumbing.isolation import Worker, WorkerDied, WorkerTimeout

#: the job's worker (one job: one extractor)
_WORKER = Worker("extract")


def run_isolated(
    module: str, model: dict, video: dict, timeout_s: float, what: str
) -> tuple[tuple[str, str] | None, bool]:
    """``module:compute_video(**model, **video)`` in the worker, after ``module:load_extractor
    (**model)`` in a fresh one: (error or None, reusable). The worker writes the video's file;
    a killed worker leaves none under the final name (every write is atomic), and the caller
    writes the ``timeout`` record. What the function raises (a model that does not load, a GPU
    out of memory) is raised here: the job fails, as without isolation."""
    try:
        if not _WORKER.alive:  # no time limit on the model load
            _WORKER.call(f"{module}:load_extractor", model)
        error, reusable = _WORKER.call(f"{module}:compute_video", {**model, **video}, timeout_s)
    except WorkerTimeout:
        return ("timeout", f"{what} took longer than the {timeout_s:g} s timeout (stopped)"), False
    except WorkerDied as e:
        return ("extract", f"{what}: {e}"), False
    return (tuple(error) if error else None), reusable


def close_worker() -> None:
    """End the job's worker and its helpers (the end of a batch)."""
    _WORKER.kill()
