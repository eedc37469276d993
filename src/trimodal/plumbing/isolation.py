"""A worker process the job can kill: per-video isolation that is safe with threads and GPUs.

Why not `fork` (the first per-video timeout forked the job after the model had loaded): a
child forked after torch started its OpenMP pool hangs at its first parallel region, CUDA
cannot be used in a forked child, and a forked child is killed alone (its helpers, such as
the TensorFlow process, stay behind). So the worker is a fresh interpreter:

- started with :class:`subprocess.Popen` (``sys.executable -c``; the same environment, so the
  job's threads, its GPU and its batch shrink reach it), in its own session, so that one
  ``killpg`` stops the worker and every helper it started;
- it loads what it needs itself (the model: once, for every video it processes) and serves
  calls ``module:function(**kwargs)`` sent as pickles over a socket pair;
- a call past its time limit kills the whole process group; the next call starts a fresh
  worker;
- an exception in a call is re-raised in the job (a GPU out-of-memory error still fails the
  job, so Snakemake's retry with half the batch happens);
- no process outlives the job: the worker dies with the job's process (``PR_SET_PDEATHSIG``),
  :func:`kill_workers` runs at exit and before the memory guard's ``os._exit``, and
  :func:`die_with_parent` lets a worker's helper die with it too.

Why not ``concurrent.futures.ProcessPoolExecutor`` (spawn context), loky or pebble: the spawn
start method re-imports the job's ``__main__`` (a Snakemake script body, unguarded) in the child;
the pools hide the worker's pid, treat a killed worker as a broken pool, and kill only the
worker, never its helpers; pebble and loky are also not in the stack. The whole job here is one
long-lived worker at a time, which ``Popen`` states in a few lines.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from trimodal.plumbing.plugins import load_plugins

log = logging.getLogger("trimodal")

_PR_SET_PDEATHSIG = 1


class WorkerTimeout(Exception):
    """The call ran past its time limit; the worker (and its helpers) were killed."""


class WorkerDied(Exception):
    """The worker ended without an answer (a crash, a signal)."""


class RemoteTraceback(Exception):
    """The worker's traceback, chained under the exception it raised."""

    def __str__(self) -> str:
        return self.args[0]


#: workers alive in this process (killed at exit and by the memory guard)
_LIVE: set[Worker] = set()


try:  # resolved here, not in a forked child (a preexec_fn must not load libraries)
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent ends (Linux; elsewhere nothing).
    Usable as a ``preexec_fn``; with `parent_pid`, exit at once if that parent is already gone."""
    if _PRCTL is None:
        return
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


class Worker:
    """One worker process at a time, started on the first :meth:`call` (and after a kill)."""

    def __init__(self, what: str = "worker"):
        self.what = what
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.starts = 0

    def start(self) -> None:
        mine, theirs = socket.socketpair()
        code = "from trimodal.plumbing.isolation import serve; serve()"
        argv = [sys.executable, "-c", code, str(theirs.fileno()), str(os.getpid())]
        self.proc = subprocess.Popen(
            argv, pass_fds=(theirs.fileno(),), start_new_session=True, stdin=subprocess.DEVNULL
        )
        theirs.close()
        self.conn = Connection(mine.detach())
        self.starts += 1
        _LIVE.add(self)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def call(self, target: str, kwargs: dict[str, Any], timeout_s: float | None = None):
        """``target`` (``"module:function"``) run in the worker with `kwargs`; its result.

        Raises :class:`WorkerTimeout` after `timeout_s` (the worker's group is killed),
        :class:`WorkerDied` when the worker ends without answering, and re-raises what the
        function raised (with the worker's traceback chained)."""
        if not self.alive:
            self.kill()
            self.start()
        assert self.conn is not None
        try:
            self.conn.send((target, kwargs))
        except OSError:  # it ended since the check above
            code = self.kill()
            raise WorkerDied(f"the worker process died (exit code {code})") from None
        deadline = None if not timeout_s else time.monotonic() + float(timeout_s)
        while True:
            wait = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
            if not self.conn.poll(wait):
                if deadline is not None and time.monotonic() >= deadline:
                    self.kill()
                    raise WorkerTimeout(f"{target} took longer than {timeout_s:g} s")
                if not self.alive:
                    code = self.kill()
                    raise WorkerDied(f"the worker process died (exit code {code})")
                continue
            try:
                kind, *payload = self.conn.recv()
            except (EOFError, OSError):
                code = self.kill()
                raise WorkerDied(f"the worker process died (exit code {code})") from None
            if kind == "log":
                log.log(payload[0], "%s", payload[1])
            elif kind == "ok":
                return payload[0]
            else:
                error, remote_tb = payload
                raise error from RemoteTraceback(remote_tb)

    def kill_group(self) -> None:
        """SIGKILL the worker's process group (its own session: pgid == pid), helpers included;
        safe from another thread (the memory guard): nothing else is touched."""
        proc = self.proc
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def kill(self) -> int | None:
        """Kill the worker's process group and reap the worker; its exit code."""
        self.kill_group()
        proc, self.proc = self.proc, None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        _LIVE.discard(self)
        return None if proc is None else proc.wait()

    close = kill


def kill_workers() -> None:
    """Kill every live worker of this process with its helpers (at exit; the memory guard)."""
    for worker in list(_LIVE):
        worker.kill_group()


atexit.register(kill_workers)


class _SendLog(logging.Handler):
    """The worker's log records, sent to the job (which writes its log file)."""

    def __init__(self, send):
        super().__init__(logging.INFO)
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.send(("log", record.levelno, record.getMessage()))
        except Exception:  # noqa: BLE001 - the job is gone or the socket is closed
            pass


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any exception type that does not round-trip
        return RuntimeError(f"{type(error).__name__}: {error}")


def serve() -> None:
    """The worker's main loop (``sys.argv``: the socket's fd, the job's pid)."""
    fd, parent = int(sys.argv[1]), int(sys.argv[2])
    die_with_parent(parent)
    conn = Connection(fd)
    lock = threading.Lock()

    def send(message) -> None:
        with lock:
            conn.send(message)

    logging.basicConfig(level=logging.INFO, handlers=[_SendLog(send)], force=True)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the job closed its end
            return
        target, kwargs = message
        module, name = target.split(":")
        try:
            load_plugins([module])  # the one place modules are imported by name
            result = getattr(sys.modules[module], name)(**kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised in the job
            send(("error", _picklable(e), traceback.format_exc()))
            continue
        send(("ok", result))
