"""Running a TensorFlow back-end script in its own Python, from the torch side.

TensorFlow and torch in one process crashed here (see MODELS.md), so the VGGish and YAMNet
extractors never import TensorFlow: they write their input to a file and run their `*_tf.py`
module as a script with the interpreter named by ``params["tf_python"]``, else
``$TRIMODAL_TF_PYTHON``, else this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
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
    """Run the module `script` (one of the extractor's ``SCRIPTS``, so that its source is in
    the code hash) as a script with `args`; raise with its stderr if it fails."""
    python = params.get("tf_python") or os.environ.get("TRIMODAL_TF_PYTHON") or sys.executable
    # run the file as a script, not `-m trimodal...`: the package's __init__ pulls pandas,
    # which a TensorFlow-only interpreter need not have; the *_tf modules need numpy + TF only
    path = Path(__file__).with_name(script.rsplit(".", 1)[-1] + ".py")
    cmd = [python, str(path), *args]
    env = {**os.environ, "PYTHONNOUSERSITE": "1"}
    # dies with the process that runs it (a killed isolation worker: docs/reliability.md)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, preexec_fn=die_with_parent)
    if r.returncode != 0:
        raise RuntimeError(f"TensorFlow {what} process failed ({r.returncode}): {r.stderr[-2000:]}")


#: the distributions of the TensorFlow interpreter that compute a TF back-end's output
TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-hub")


def tf_python(params: dict) -> str:
    """The interpreter a TF back-end runs in (params, else $TRIMODAL_TF_PYTHON, else this)."""
    return params.get("tf_python") or os.environ.get("TRIMODAL_TF_PYTHON") or sys.executable


def tf_versions(params: dict) -> dict[str, str]:
    """Versions of TensorFlow (and TF Hub) in the interpreter the back-end runs in, read from
    its package metadata (TensorFlow is not imported): recorded with every file it computes,
    as the torch side's library versions are."""
    return dict(_versions_in(tf_python(params), TF_DISTRIBUTIONS))


@cache
def _versions_in(python: str, dists: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try:\n"
        "        out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(json.dumps(out))"
    )
    env = {**os.environ, "PYTHONNOUSERSITE": "1"}
    try:
        r = subprocess.run(
            [python, "-c", code, *dists], env=env, capture_output=True, text=True, timeout=120
        )
        found = json.loads(r.stdout) if r.returncode == 0 else {}
    except (OSError, ValueError, subprocess.SubprocessError):
        found = {}
    return tuple(sorted(found.items()))
