"""Overlap decoding with the model: produce the next items in a background thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

from trimodal.plumbing.threads import job_threads


def prefetch(items: Iterable, depth: int | None = None) -> Iterator:
    """Yield from `items` while a background thread already produces the next `depth` items.

    With batches of sampled frames, decoding the next batch (PyAV and decord release the GIL)
    overlaps the model's work on this one; memory grows by `depth` batches only. Exceptions
    raised while producing are re-raised here; closing early stops the producer. The default
    depth is 1 when the job has a second thread for the producer, else 0 (no thread: a
    1-thread job decodes and runs the model in turn).
    """
    if depth is None:
        depth = 1 if job_threads() > 1 else 0
    if depth <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for x in items:
                if not put((True, x)):
                    return
            put((True, done))
        except BaseException as e:  # handed to the consumer
            put((False, e))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, x = q.get()
            if not ok:
                raise x
            if x is done:
                return
            yield x
    finally:
        stop.set()
        worker.join()
