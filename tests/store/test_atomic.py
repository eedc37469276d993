"""The one atomic writer: final modes follow the umask, failures and kills never tear a file,
stale temporary files of killed writers are removed by the next writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from trimodal.plumbing import atomic  # noqa: E402


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def write_everything(root: Path) -> dict[str, Path]:
    """One output of each kind through the atomic writer."""
    out = {}
    with atomic.atomic_h5(root / "a.h5") as h5:
        h5["x"] = np.arange(3)
    out["h5"] = root / "a.h5"
    out["text"] = atomic.write_text(root / "a.md", "# hello\n")
    out["json"] = atomic.write_json(root / "a.json", {"a": 1})
    out["table"] = atomic.write_table(root / "a.tsv", pd.DataFrame({"a": [1, 2]}), sep="\t")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    out["figure"] = atomic.save_figure(fig, root / "a.png", dpi=50)
    plt.close(fig)
    out["folder"] = atomic.atomic_dir(root / "cache", lambda tmp: (tmp / "w.bin").write_bytes(b"1"))
    return out


@pytest.mark.parametrize(
    "mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_modes_follow_the_umask_like_a_plain_open(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    assert atomic.current_umask() == mask
    out = write_everything(tmp_path)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what a plain open() gives
    assert plain.stat().st_mode & 0o777 == file_mode
    for kind, path in out.items():
        want = dir_mode if kind == "folder" else file_mode
        assert path.stat().st_mode & 0o777 == want, (kind, oct(path.stat().st_mode))
    assert (out["folder"] / "w.bin").stat().st_mode & 0o777 == file_mode
    # what was written is what was asked for
    with h5py.File(out["h5"]) as h5:
        assert list(h5["x"][()]) == [0, 1, 2]
    assert pd.read_csv(out["table"], sep="\t")["a"].tolist() == [1, 2]
    assert out["figure"].read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.h5",
        "a.json",
        "a.md",
        "a.png",
        "a.tsv",
        "cache",
        "plain.txt",
    ]


def test_a_failing_writer_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = atomic.write_text(tmp_path / "t.csv", "old\n")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


def test_temporary_name_keeps_the_suffix_so_formats_are_inferred(tmp_path):
    seen = []
    atomic.write_file(tmp_path / "t.csv.gz", lambda tmp: seen.append(tmp.name))
    assert seen[0].startswith(".t.csv.gz.tmp-") and seen[0].endswith(".gz")
    frame = pd.DataFrame({"a": range(50)})
    atomic.write_table(tmp_path / "t.csv.gz", frame, index=False)
    assert (tmp_path / "t.csv.gz").read_bytes()[:2] == b"\x1f\x8b"  # gzip, from the suffix
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv.gz"), frame)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_writer_removes_temporaries_of_killed_writers(tmp_path):
    target = tmp_path / "s.h5"
    prefix = atomic._prefix(target)
    host = atomic._HOST
    stale = [
        tmp_path / f"{prefix}{host}-{_dead_pid()}-abcdefgh.h5",
        tmp_path / f"{prefix}other-node-123-abcdefgh.h5",  # killed on another cluster node
    ]
    for p in stale:
        p.write_bytes(b"half")
    unrelated = tmp_path / ".other.h5.tmp-x-1-abcdefgh.h5"
    unrelated.write_bytes(b"x")
    with atomic.atomic_h5(target) as h5:
        h5["x"] = 1
    assert sorted(tmp_path.iterdir()) == sorted([target, unrelated])


def test_shared_writers_remove_only_dead_local_temporaries(tmp_path):
    target = tmp_path / "model.onnx"
    prefix, host = atomic._prefix(target), atomic._HOST
    dead = tmp_path / f"{prefix}{host}-{_dead_pid()}-abcdefgh.onnx"
    live = tmp_path / f"{prefix}{host}-{os.getppid()}-abcdefgh.onnx"  # a concurrent job
    remote = tmp_path / f"{prefix}node-7-123-abcdefgh.onnx"  # unknown: may be alive
    for p in (dead, live, remote):
        p.write_bytes(b"half")
    atomic.write_file(target, lambda tmp: tmp.write_bytes(b"model"), shared=True)
    assert sorted(tmp_path.iterdir()) == sorted([target, live, remote])
    assert target.read_bytes() == b"model"


def test_atomic_dir_first_writer_wins(tmp_path):
    target = tmp_path / "cache"
    calls = []
    for content in (b"first", b"second"):
        atomic.atomic_dir(target, lambda tmp, c=content: calls.append((tmp / "f").write_bytes(c)))
    assert (target / "f").read_bytes() == b"first" and len(calls) == 1
    assert list(tmp_path.iterdir()) == [target]


KILLED_WRITER = """
import sys
from trimodal.plumbing import atomic
atomic.write_text(sys.argv[1], "0123456789" * 100)
print("survived")
"""


@pytest.mark.parametrize("needle, killed", [("t.md", True), ("other.md", False)])
def test_kill_hook_cuts_the_temporary_file_and_kills_before_the_rename(tmp_path, needle, killed):
    target = tmp_path / "t.md"
    atomic.write_text(target, "old")
    env = {**os.environ, atomic.KILL_ENV: needle, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(target)], env=env, capture_output=True
    )
    temps = list(tmp_path.glob(".t.md.tmp-*"))
    if killed:
        assert proc.returncode == -signal.SIGKILL and b"survived" not in proc.stdout
        assert target.read_text() == "old"  # the final name still holds the old, whole file
        assert len(temps) == 1 and temps[0].stat().st_size == 500  # half the bytes
        atomic.write_text(target, "new")  # the next writer: the leftover goes
        assert list(tmp_path.iterdir()) == [target] and target.read_text() == "new"
    else:
        assert proc.returncode == 0 and not temps
        assert target.read_text() == "0123456789" * 100
