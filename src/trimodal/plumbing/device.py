"""The one device picker: "auto" means CUDA when this job can see a GPU, else CPU.

On a machine without an NVIDIA driver the answer needs no torch import (2.7 CPU-s here), so
jobs that never touch torch (raw text, YAMNet on onnxruntime, the probe) stay light.
"""

from __future__ import annotations

import os
from pathlib import Path

_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0")


def pick_device(device: str = "auto") -> str:
    """`device` unchanged unless "auto"; then "cuda" when a GPU is visible, else "cpu"."""
    if device != "auto":
        return device
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return "cpu"
    if not any(Path(p).exists() for p in _DRIVER_FILES):
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


#: tests (and a plan made on a machine other than the one that runs it) set the number of GPUs
GPUS_ENV = "TRIMODAL_GPUS"
#: where running jobs hold one lock file per GPU they use
GPU_LOCKS_ENV = "TRIMODAL_GPU_LOCKS"


def visible_gpus() -> list[str]:
    """The GPUs jobs on this machine may use, without importing torch: ``TRIMODAL_GPUS=N``
    when set (N fake ones: tests), else ``CUDA_VISIBLE_DEVICES``' entries, else one per
    /dev/nvidiaN device file; none without an NVIDIA driver."""
    forced = os.environ.get(GPUS_ENV, "")
    if forced.strip():
        return [str(i) for i in range(int(forced))]
    if not any(Path(p).exists() for p in _DRIVER_FILES):
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    return sorted((p.name[len("nvidia") :] for p in Path("/dev").glob("nvidia[0-9]*")), key=int)


def plan_uses_cuda(device: str = "auto") -> bool:
    """Whether the plan's jobs will run on CUDA: `device` cuda, or auto with a GPU visible."""
    device = str(device)
    return device.startswith("cuda") or (device == "auto" and bool(visible_gpus()))


_CLAIMED: list = []  # lock files held until this process exits


def claim_gpu(poll_s: float = 1.0) -> str | None:
    """Pin this process to one GPU no other running job holds and return it.

    One lock file per visible GPU (``$TRIMODAL_GPU_LOCKS``, else a per-user folder in the temp
    dir), taken with ``fcntl.flock``: the first free one is held until the process exits (the
    kernel drops it even when the job is killed) and becomes ``CUDA_VISIBLE_DEVICES``, so
    "cuda" / "cuda:0" in this job is that GPU. Waits while all are held (more GPU jobs than
    GPUs: a ``--resources gpu=N`` above the count). None where no GPU is visible."""
    import fcntl
    import tempfile
    import time

    gpus = visible_gpus()
    if not gpus:
        return None
    folder = Path(
        os.environ.get(GPU_LOCKS_ENV)
        or Path(tempfile.gettempdir()) / f"trimodal-gpu-locks-{os.getuid()}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for gpu in gpus:
            f = open(folder / f"gpu-{gpu}.lock", "a")  # noqa: SIM115 - held until exit
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            _CLAIMED.append(f)
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
            return gpu
        time.sleep(poll_s)


def gpu_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is a GPU running out of memory (torch's OutOfMemoryError, CTranslate2's
    and onnxruntime's CUDA messages): the job should fail and be retried with a smaller batch
    rather than leave an error record."""
    if type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error).lower()
    return "cuda" in text and "out of memory" in text
