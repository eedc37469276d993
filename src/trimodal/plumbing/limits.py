"""Per-job resource guard: a memory ceiling.

Memory: a watchdog thread samples the job's resident memory; past the `mem_mb` the rule declared
(its Snakemake resource, which SLURM also enforces) it logs why and exits with status 137, so
Snakemake reports a normal failed job naming the rule and the video, long before the machine's
OOM killer would pick a victim; the job's isolation worker and its helpers are killed first.
(The per-video timeout: :mod:`trimodal.plumbing.isolation`, a worker process the job can kill;
SIGALRM, used before, never interrupted native code.)
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager

import psutil

from trimodal.plumbing.isolation import kill_workers

log = logging.getLogger("trimodal")

MEMORY_EXIT_CODE = 137


def _watch_memory(limit_mb: float, stop: threading.Event, interval: float, what) -> None:
    proc = psutil.Process()
    while not stop.wait(interval):
        rss = proc.memory_info().rss / 2**20
        for child in proc.children(recursive=True):
            try:
                rss += child.memory_info().rss / 2**20
            except psutil.Error:
                pass
        if rss > limit_mb:
            log.error(
                "%s: memory limit exceeded: %.0f MB resident > %.0f MB declared (mem_mb); "
                "raise the rule's mem_mb resource or lower the batch size",
                what() if callable(what) else what,
                rss,
                limit_mb,
            )
            logging.shutdown()
            kill_workers()  # os._exit runs no atexit: the job's isolation worker goes first
            os._exit(MEMORY_EXIT_CODE)


@contextmanager
def memory_limit(mem_mb: float | None, what="job", interval: float = 0.25):
    """Exit 137 with a message naming `what` (a string, or a function giving one: e.g. the
    video a batch job is on) when the job's resident memory passes `mem_mb`."""
    if not mem_mb:
        yield
        return
    stop = threading.Event()
    t = threading.Thread(
        target=_watch_memory, args=(float(mem_mb), stop, interval, what), daemon=True
    )
    t.start()
    try:
        yield
    finally:
        stop.set()
