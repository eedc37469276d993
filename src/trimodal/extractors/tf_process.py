"""Running a TensorFlow back-end script in its own Python, from the torch side.

TensorFlow and torch in one process crashed here (see MODELS.md), so the VGGish and YAMNet
extractors never import TensorFlow: they write their input to a file and run their `*_tf.py`
module as a script with the interpreter named by ``params["tf_python"]``, else
``$TRIMODAL_TF_PYTHON``, else this one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from trimodal.media.audio import stream_audio
from trimodal.plumbing.isolation import die_with_parent


def write_waveform(dest: str, path: str, chunk_s: float, stats: dict, span=None) -> None:
    """The decoded 16 kHz mono audio of `path` (of its `span`, a segment's (start, end)
    seconds, when given) as raw float32, streamed: bounded memory."""
    with open(dest, "wb") as f:
        for chunk in stream_audio(path, chunk_s=chunk_s, stats=stats, span=span):
            f.write(np.ascontiguousarray(chunk, dtype=np.float32).tobytes())


def run_tf_script(script: str, args: list[str], params: dict, what: str) -> None:
    """Run ``trimodal/extractors/<script>`` with `args`; raise with its stderr if it fails."""
    python = params.get("tf_python") or os.environ.get("TRIMODAL_TF_PYTHON") or sys.executable
    # run the file as a script, not `-m trimodal...`: the package's __init__ pulls pandas,
    # which a TensorFlow-only interpreter need not have; the *_tf modules need numpy + TF only
    cmd = [python, str(Path(__file__).with_name(script)), *args]
    env = {**os.environ, "PYTHONNOUSERSITE": "1"}
    # dies with the process that runs it (a killed isolation worker: docs/reliability.md)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, preexec_fn=die_with_parent)
    if r.returncode != 0:
        raise RuntimeError(f"TensorFlow {what} process failed ({r.returncode}): {r.stderr[-2000:]}")
