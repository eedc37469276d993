"""The one place a job's `threads` reaches every runtime it uses.

A Snakemake job declares `threads`; left alone, torch's inter-op pool, onnxruntime, CTranslate2
and the video decoders each start one thread per core of the machine (onnxruntime's also
spin-wait between calls), so a 1-thread job on a 32-core machine ran 32 busy threads.
:func:`use_threads` (called first by every workflow script) records the count for this process
and its children (``TRIMODAL_THREADS`` and the OpenMP/BLAS variables), applies it to torch and to
BLAS when they are loaded; the plug-ins read :func:`job_threads` where they build a runtime:
:func:`torch_threads` after importing torch, :func:`ort_options` for every onnxruntime session,
``cpu_threads`` for CTranslate2, ``thread_count`` for PyAV (decord runs 1 thread), and the frame
prefetch thread only when the job has a second thread for it.

Outside a job (tests, notebooks) the count is the machine's cores, as before.
"""

from __future__ import annotations

import os
import sys

ENV = "TRIMODAL_THREADS"
#: variables read by OpenMP / BLAS libraries when they load (numpy, torch, sklearn, CTranslate2)
_LIB_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def machine_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def job_threads() -> int:
    """This job's thread count: set by :func:`use_threads`, else the machine's cores."""
    try:
        n = int(os.environ.get(ENV, "0"))
    except ValueError:
        n = 0
    return n if n > 0 else machine_cores()


def use_threads(threads: int | None) -> int:
    """Make `threads` (a job's count; None or < 1: the machine's cores) this process's count:
    environment for libraries loaded later, torch and BLAS when already loaded. Returns it."""
    n = int(threads) if threads and int(threads) > 0 else machine_cores()
    os.environ[ENV] = str(n)
    for var in _LIB_ENV:
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        torch_threads()
    blas_threads()
    return n


def torch_threads() -> int:
    """Set torch's intra-op and inter-op pools to the job's count (call after importing torch).

    The inter-op count can be set only before torch's first parallel work; later calls leave
    it as the first one set it."""
    import torch

    n = job_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if torch.get_num_interop_threads() != n:
        try:
            torch.set_num_interop_threads(n)
        except RuntimeError:  # already started: nothing to do but keep going
            pass
    return n


def blas_threads() -> None:
    """Limit the BLAS / OpenMP pools already loaded in this process (numpy, scipy, sklearn)
    to the job's count; libraries loaded later read the environment :func:`use_threads` set."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an sklearn dependency; without it the environment has to do
        return
    threadpool_limits(limits=job_threads())


def spinning(threads: int | None = None) -> bool:
    """Whether onnxruntime's workers may spin-wait between calls: only when the job holds every
    core (spinning threads steal the CPU of other jobs). ``TRIMODAL_ORT_SPIN=0/1`` overrides."""
    forced = os.environ.get("TRIMODAL_ORT_SPIN")
    if forced in ("0", "1"):
        return forced == "1"
    return (threads or job_threads()) >= machine_cores()


def ort_options(threads: int | None = None):
    """onnxruntime SessionOptions for this job: intra-op = its threads, inter-op 1 (sequential
    execution), no spin-waiting unless the job holds every core."""
    import onnxruntime as ort

    n = int(threads) if threads else job_threads()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = n
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if spinning(n) else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return opts


def start_job(threads: int | None, gpu: int | str | None = 0) -> None:
    """What every workflow script calls first: the job's threads for every runtime
    (:func:`use_threads`) and, for a job that declared ``gpu``, one free GPU of its own
    (:func:`trimodal.plumbing.device.claim_gpu`)."""
    use_threads(threads)
    if gpu and int(gpu) > 0:
        from trimodal.plumbing.device import claim_gpu

        claim_gpu()
