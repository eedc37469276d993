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
