"""The isolation worker (issue 32): a spawned process the job can kill with its helpers, that
re-raises what it raised, and that never outlives the job (memory guard, a killed job)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from trimodal.plumbing.isolation import Worker, WorkerTimeout, die_with_parent

ROOT = Path(__file__).resolve().parents[2]
HERE = "tests.plumbing.test_isolation"


# ------------------------------------------------------------------ targets run in the worker


def add(a, b):
    return a + b, os.getpid()


def raise_value_error(message):
    raise ValueError(message)


def out_of_memory():
    import torch

    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def block_with_helper(pid_file, grow_mb=0):
    """Start a helper (as the TensorFlow back-end is started), take `grow_mb` of memory, then
    block in C."""
    helper = subprocess.Popen(["sleep", "600"], preexec_fn=die_with_parent)
    Path(pid_file).write_text(f"{os.getpid()} {helper.pid}")
    block = bytearray(grow_mb * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # resident, page by page
    ctypes.CDLL(None).sleep(600)


def load_extractor(log_file, **model):
    """stages.worker's model load, here: one line per load, with the worker's pid."""
    with open(log_file, "a") as f:
        f.write(f"{os.getpid()}\n")


def compute_video(log_file, what, **video):
    """stages.worker's per-video call, here: ok, an endless native call, or a crash."""
    if what == "block":
        ctypes.CDLL(None).sleep(600)
    if what == "crash":
        os._exit(3)
    return None, True


# ------------------------------------------------------------------ helpers


def gone(pids, wait_s=10.0) -> bool:
    """Whether every pid has ended (a zombie not yet reaped counts as ended)."""
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


def read_pids(pid_file: Path, wait_s=60.0) -> list[int]:
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        if pid_file.exists() and pid_file.read_text().strip():
            return [int(p) for p in pid_file.read_text().split()]
        time.sleep(0.1)
    raise AssertionError("the worker never started its helper")


@pytest.fixture(autouse=True)
def _importable_targets(monkeypatch):
    """The worker imports this module by name: the repository root on its path."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


# ------------------------------------------------------------------ tests


def test_a_call_runs_in_another_process_that_is_reused():
    w = Worker()
    try:
        (s1, pid1), (s2, pid2) = (
            w.call(f"{HERE}:add", {"a": 1, "b": 2}),
            w.call(f"{HERE}:add", {"a": 3, "b": 4}),
        )
        assert (s1, s2) == (3, 7)
        assert pid1 == pid2 != os.getpid()
        assert os.getpgid(pid1) == pid1  # its own process group: one killpg stops its helpers
    finally:
        w.kill()
    assert gone([pid1])


def test_an_exception_is_raised_in_the_job_with_the_workers_traceback():
    w = Worker()
    try:
        with pytest.raises(ValueError, match="bad video") as info:
            w.call(f"{HERE}:raise_value_error", {"message": "bad video"})
        assert "raise_value_error" in str(info.value.__cause__)
        assert w.call(f"{HERE}:add", {"a": 1, "b": 1})[0] == 2  # the worker goes on
    finally:
        w.kill()


def test_gpu_out_of_memory_reaches_the_job_as_itself():
    """The extract job re-raises it, so Snakemake retries the job with half the batch."""
    from trimodal.plumbing.device import gpu_out_of_memory

    w = Worker()
    try:
        with pytest.raises(Exception) as info:
            w.call(f"{HERE}:out_of_memory", {})
        assert gpu_out_of_memory(info.value)
    finally:
        w.kill()


def test_a_call_past_its_limit_kills_the_worker_and_its_helper(tmp_path):
    w = Worker()
    pid_file = tmp_path / "pids"
    t0 = time.monotonic()
    with pytest.raises(WorkerTimeout):
        w.call(f"{HERE}:block_with_helper", {"pid_file": str(pid_file)}, timeout_s=3)
    assert time.monotonic() - t0 < 30
    assert gone(read_pids(pid_file))
    try:  # a fresh worker for the next call
        _, pid = w.call(f"{HERE}:add", {"a": 1, "b": 1})
        assert pid not in read_pids(pid_file)
    finally:
        w.kill()


JOB = """
import sys
from trimodal.plumbing.isolation import Worker
from trimodal.plumbing.limits import memory_limit

with memory_limit(float(sys.argv[2]), "test job"):
    Worker().call("tests.plumbing.test_isolation:block_with_helper",
                  {"pid_file": sys.argv[1], "grow_mb": int(sys.argv[3])})
"""


def test_memory_guard_exit_leaves_no_process(tmp_path):
    """The guard ends the job with os._exit (no atexit, no finally): the worker and its
    helper go first."""
    pid_file = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ["PYTHONPATH"]])}
    # a limit the job passes once the worker has its helper and takes 600 MB
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(JOB), str(pid_file), "400", "600"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 137, r.stderr
    assert "memory limit exceeded" in r.stderr
    assert gone(read_pids(pid_file, wait_s=1))


def test_a_killed_job_takes_its_worker_and_helper_along(tmp_path):
    """SIGKILL from outside (SLURM, a killed Snakemake): nothing of the job's own code runs;
    the kernel ends the worker (PR_SET_PDEATHSIG) and then its helper."""
    pid_file = tmp_path / "pids"
    job = subprocess.Popen([sys.executable, "-c", textwrap.dedent(JOB), str(pid_file), "0", "0"])
    try:
        pids = read_pids(pid_file)
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
    assert gone(pids)


def test_run_isolated_loads_once_per_worker_and_turns_kills_into_error_records(tmp_path):
    """The extract stage's use: a timeout becomes a `timeout` error record, a crash an
    `extract` one; a fresh worker (one more model load) goes on with the next video."""
    from trimodal.stages.worker import close_worker, run_isolated

    loads = tmp_path / "loads"
    model = {"log_file": str(loads)}

    def video(what):
        return run_isolated(HERE, model, {"what": what}, 2, f"x on {what}")

    try:
        assert video("ok") == (None, True) and video("ok") == (None, True)
        assert video("block") == (
            ("timeout", "x on block took longer than the 2 s timeout (stopped)"),
            False,
        )
        assert video("ok") == (None, True)
        error, reusable = video("crash")
        assert error == ("extract", "x on crash: the worker process died (exit code 3)")
        assert video("ok") == (None, True)
    finally:
        close_worker()
    assert len(loads.read_text().split()) == 3  # the first worker, after the kill, after the crash
