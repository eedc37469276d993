"""The one atomic writer: a file under its final name is always whole, whatever kills its writer.

Every output is written to a temporary name in the same folder (same filesystem, so the rename
is atomic), flushed to disk, given its final mode, and renamed onto the final name with
``os.replace``. A writer that raises removes its temporary file; one killed by SIGKILL leaves it,
and the next writer of the same path removes it (see ``shared`` below). Readers, a resumed run and
a later run that reuses results therefore see either the old file, no file, or the new whole file.

Use ``atomic_h5`` (HDF5), ``write_text`` / ``write_json`` / ``write_table`` (Markdown, JSON,
CSV/TSV), ``save_figure`` (matplotlib), ``write_file`` (any ``writer(tmp_path)``), ``atomic_path``
(the context manager under them all) and ``atomic_dir`` (a folder built once, first writer wins).

Temporary names are ``.<final name>.tmp-<host>-<pid>-<random><final suffix>`` (the suffix kept
so that pandas and matplotlib infer the format and compression from it).

``shared``: by default a path has one writer at a time (Snakemake runs one job per output and
locks the working directory), so every other temporary file of that path is a leftover of a
killed writer and is removed before writing; this works across cluster nodes. With
``shared=True`` (the model and reuse caches, where concurrent jobs or runs may write the same
file) only temporary files of dead processes on this host are removed.

Modes: ``mkstemp``/``mkdtemp`` create 0600/0700; final files get ``0o666 & ~umask`` and folders
``0o777 & ~umask``, what a plain ``open()``/``mkdir()`` gives, so collaborators on a shared
filesystem can read the results when the umask lets them. The umask is read from
``/proc/self/status`` at each write (no race with other threads; a umask changed at run time is
honoured); elsewhere it is read by setting and restoring it.

Test-only kill hook (never set it outside tests): ``TRIMODAL_TEST_KILL_WRITER=<substring>`` makes
the writer of any final path containing the substring cut its temporary file to half its bytes
(what a kill in mid-write leaves) and SIGKILL itself before the rename; a folder, or a hard link
(which shares its source's bytes), is killed before its rename without cutting.
``TRIMODAL_TEST_KILL_WRITER_SCOPE=group`` kills the whole process group instead (Snakemake and
all its jobs, as a power cut would), leaving Snakemake's lock and incomplete markers behind.
tests/plumbing/test_crash.py uses it at every writer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KILL_ENV = "TRIMODAL_TEST_KILL_WRITER"
KILL_SCOPE_ENV = "TRIMODAL_TEST_KILL_WRITER_SCOPE"

#: the host in temporary names, bounded (a name derived from a video id must fit 255 bytes)
_HOST = socket.gethostname().replace("/", "_")[:32]
_UMASK_LOCK = threading.Lock()


# --------------------------------------------------------------------------- modes


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc/self/status)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # no /proc: set and restore (racy only against other threads' creates)
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode a plain ``os.mkdir`` gives a new folder."""
    return 0o777 & ~current_umask()


# --------------------------------------------------------------------------- temporary names


def _prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _owner(name: str, path: Path) -> tuple[str, int] | None:
    """(host, pid) encoded in the temporary name `name` of `path`, or None if it is not one."""
    stem = name[len(_prefix(path)) :]
    if path.suffix and stem.endswith(path.suffix):
        stem = stem[: -len(path.suffix)]
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _sweep(path: Path, shared: bool) -> None:
    """Remove temporary files (or folders) that killed writers of `path` left beside it."""
    prefix = _prefix(path)
    try:
        entries = [e for e in os.scandir(path.parent) if e.name.startswith(prefix)]
    except FileNotFoundError:
        return
    for entry in entries:
        owner = _owner(entry.name, path)
        if owner is None:
            continue
        host, pid = owner
        if host == _HOST and pid == os.getpid():
            continue  # ours (another thread of this process)
        if shared and (host != _HOST or _alive(pid)):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)


def _temp_args(path: Path) -> dict[str, str]:
    return {
        "prefix": f"{_prefix(path)}{_HOST}-{os.getpid()}-",
        "suffix": path.suffix,
        "dir": str(path.parent),
    }


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _test_kill(tmp: Path, path: Path) -> None:
    """The test-only kill hook (module docstring): cut `tmp` in half and SIGKILL."""
    needle = os.environ.get(KILL_ENV)
    if not needle or needle not in str(path):
        return
    if tmp.is_file() and tmp.stat().st_nlink == 1:  # a hard link shares the source's bytes
        os.truncate(tmp, tmp.stat().st_size // 2)
    if os.environ.get(KILL_SCOPE_ENV) == "group":
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------- writers


@contextmanager
def atomic_path(path: str | os.PathLike, *, shared: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on success it becomes `path`.

    On leaving the block the file is flushed to disk, given the umask's mode and renamed onto
    `path`; on an exception it is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path, shared)
    fd, name = tempfile.mkstemp(**_temp_args(path))
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        _fsync(tmp)
        _test_kill(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_file(
    path: str | os.PathLike, writer: Callable[[Path], Any], *, shared: bool = False
) -> Path:
    """Run ``writer(tmp)`` (it creates or fills the file `tmp`) and move the result onto `path`."""
    with atomic_path(path, shared=shared) as tmp:
        writer(tmp)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return write_file(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    return write_file(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def write_json(path: str | os.PathLike, obj: Any, **dumps_kwargs: Any) -> Path:
    """``json.dumps(obj, **dumps_kwargs)`` written atomically."""
    return write_text(path, json.dumps(obj, **dumps_kwargs))


def write_table(path: str | os.PathLike, frame, **to_csv_kwargs: Any) -> Path:
    """``frame.to_csv(path, **to_csv_kwargs)`` written atomically (pass ``sep="\\t"`` for TSV)."""
    return write_file(path, lambda tmp: frame.to_csv(tmp, **to_csv_kwargs))


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs: Any) -> Path:
    """``fig.savefig`` written atomically; the format defaults to the final name's suffix."""
    path = Path(path)
    savefig_kwargs.setdefault("format", path.suffix.lstrip(".") or None)
    return write_file(path, lambda tmp: fig.savefig(tmp, **savefig_kwargs))


@contextmanager
def atomic_h5(path: str | os.PathLike, **h5py_kwargs: Any) -> Iterator[Any]:
    """An ``h5py.File`` opened for writing on a temporary file that becomes `path` on success."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", **h5py_kwargs) as h5:
            yield h5


def atomic_dir(target: str | os.PathLike, build: Callable[[Path], Any]) -> Path:
    """A folder built once: ``build(tmp)`` fills a temporary folder, renamed onto `target`.

    First writer wins: when `target` exists it is returned as is, and a concurrent builder that
    finishes second discards its copy. For caches shared by concurrent jobs (the model cache).
    """
    target = Path(target)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target, shared=True)
    tmp = Path(tempfile.mkdtemp(**_temp_args(target)))
    try:
        build(tmp)
        os.chmod(tmp, dir_mode())
        _test_kill(tmp, target)
        try:
            os.rename(tmp, target)
        except OSError:  # another job finished first
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def file_kind(mode: int) -> str:
    """What a path that is not a regular file is: "directory", "FIFO", "character device"..."""
    kinds = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "regular file")
