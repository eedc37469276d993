"""Per-video reuse inside batch jobs: a content-addressed cache of per-video result files.

Snakemake deletes a rerunning job's outputs before it starts, so a batch job that reruns
because one of its videos changed would recompute all of them. Each per-video result is
therefore also kept under ``<cache dir>/<extractor>/<key[:2]>/<key>.h5``, where the key is a
hash of everything that result depends on: the video id, the extractor's name, kind, model (spec and weights
fingerprint), params, code hash, the device, and the video's own inputs (the media file's size,
mtime and a hash of a few of its blocks; its description and source texts; its probe). A rerun
links the file back instead of calling the model, so only videos whose inputs changed are
recomputed, and the result is the same file a fresh run wrote.

Entries are copies (a reflink where the filesystem has one), never hard links, so nothing a
user does to an output under results/ (touch, an h5py ``r+`` edit) reaches the cache. Each entry
has a sidecar ``<key>.json`` with its sha256, written after it through trimodal.plumbing.atomic (a
temporary name, then a rename): an entry without one, or whose bytes no longer match it
(truncated, edited), is discarded with a warning that names it, and recomputed. ``--forcerun``
/ ``--forceall`` of an extract rule leave a marker in the project (:func:`mark_forced`):
entries written before it are not reused, so a forced run recomputes every video. Deleting the folder is always safe: it
only costs recomputation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from trimodal.plumbing.atomic import file_kind, write_file

#: blocks hashed to tell two files of the same size and mtime apart (start, middle, end)
SAMPLE_BLOCK = 64 * 1024


def file_identity(path: str | os.PathLike) -> dict[str, Any]:
    """Cheap identity of a media file: size, mtime (ns) and a hash of three 64 KiB blocks.

    Reads at most 192 KiB whatever the file's size; a file replaced in place with its mtime
    kept (``cp -p``, ``rsync -t``) still changes identity unless those blocks are equal.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block, a directory raise: no bytes to hash
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "blocks": file_kind(st.st_mode)}
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for offset in sorted({0, max(0, st.st_size // 2 - SAMPLE_BLOCK // 2),
                              max(0, st.st_size - SAMPLE_BLOCK)}):  # fmt: skip
            f.seek(offset)
            h.update(f.read(SAMPLE_BLOCK))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "blocks": h.hexdigest()[:16]}


#: the environment variable naming the local folder of Snakemake's copies of storage objects
#: (set by the workflow from --local-storage-prefix; inherited by its jobs)
STORAGE_COPIES_ENV = "TRIMODAL_STORAGE_COPIES"


def is_storage_copy(path: str | os.PathLike) -> bool:
    """Whether `path` is Snakemake's local copy of a storage object (under the folder that
    STORAGE_COPIES_ENV names): its mtime is the time it was downloaded, not when it changed."""
    prefix = os.environ.get(STORAGE_COPIES_ENV)
    return bool(prefix) and Path(path).resolve().is_relative_to(Path(prefix).resolve())


def media_identity(path: str | os.PathLike) -> dict[str, Any]:
    """A media file's part of the reuse key: :func:`file_identity` for a local file; for a
    copy of a storage object (downloaded anew by each job that needs it, so its mtime says
    nothing) its size and the sha256 of all its bytes, so that a replaced object is never
    served a result of its old content, and an unchanged one is reused after a re-download."""
    if is_storage_copy(path):
        return {"size": os.stat(path).st_size, "sha256": sha256_file(path)}
    return file_identity(path)


def result_key(parts: dict[str, Any]) -> str:
    """sha256 of the JSON of `parts` (sorted keys): the cache key of one per-video result."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


log = logging.getLogger("trimodal")

#: Linux's FICLONE ioctl: a copy-on-write clone (btrfs, XFS) that shares no inode
_FICLONE = 0x40049409


def _copy(src: Path, dst: Path, shared: bool = False) -> None:
    """Put a copy of `src`'s bytes at `dst` atomically (a reflink where the filesystem has it).
    Never a hard link: the cache and results/ must not share an inode."""

    def place(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        try:
            import fcntl

            with open(src, "rb") as s, open(tmp, "wb") as d:
                fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
        except (OSError, ImportError):  # no reflink here: a plain copy
            shutil.copyfile(src, tmp)

    write_file(dst, place, shared=shared)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: where --forcerun/--forceall of an extract rule leave their marker (mark_forced), relative to
#: the project (the jobs' working directory), beside Snakemake's own records
FORCED_DIR = ".snakemake/trimodal-forced"


class ResultCache:
    """Per-extractor folder of reusable per-video results; ``root=None`` disables it."""

    def __init__(
        self,
        root: str | os.PathLike | None,
        extractor: str,
        forced_dir: str | os.PathLike = FORCED_DIR,
    ):
        self.root = Path(root) / extractor if root else None
        self.forced_ns = _forced_ns(Path(forced_dir) / extractor) if root else 0

    def path(self, key: str) -> Path | None:
        return self.root / key[:2] / f"{key}.h5" if self.root else None

    def _meta(self, key: str) -> Path:
        return self.path(key).with_suffix(".json")

    def discard(self, key: str, reason: str) -> None:
        """Drop an entry that cannot be trusted, saying which and why."""
        path = self.path(key)
        log.warning("reuse cache entry %s discarded (%s); recomputing it", path, reason)
        for p in (self._meta(key), path):
            p.unlink(missing_ok=True)

    def fetch(self, key: str, output: str | os.PathLike) -> bool:
        """Place a copy of the cached result at `output` (fresh mtime); False when there is
        none, when it was kept before a forced run, or when it no longer matches its checksum
        (then it is discarded with a warning)."""
        path = self.path(key)
        if path is None or not path.is_file():
            return False
        try:
            meta = json.loads(self._meta(key).read_text())
        except (OSError, ValueError):
            self.discard(key, "no checksum beside it")
            return False
        if path.stat().st_mtime_ns < self.forced_ns:
            return False  # --forcerun/--forceall: recompute (the new result replaces it)
        if sha256_file(path) != meta.get("sha256"):
            self.discard(key, "its content no longer matches the checksum stored with it")
            return False
        _copy(path, Path(output))
        os.utime(output)  # a reused file is as new as the job that placed it
        return True

    def keep(self, key: str, output: str | os.PathLike) -> None:
        """Remember the finished result at `output` under `key` (a copy, then its checksum)."""
        path = self.path(key)
        if path is None:
            return
        _copy(Path(output), path, shared=True)  # a cache may serve many runs
        meta = {"sha256": sha256_file(path)}  # the entry's own mtime says when it was kept
        write_file(self._meta(key), lambda tmp: tmp.write_text(json.dumps(meta)), shared=True)


def _forced_ns(marker: Path) -> int:
    """The marker's mtime (the filesystem's clock, like the entries'); 0 when none."""
    try:
        return marker.stat().st_mtime_ns
    except OSError:
        return 0


def mark_forced(extractor: str, forced_dir: str | os.PathLike = FORCED_DIR) -> None:
    """Record that a run forces `extractor`'s jobs (``--forcerun extract_<name>``,
    ``--forceall``): cache entries written before now are not reused by this project."""
    folder = Path(forced_dir)
    folder.mkdir(parents=True, exist_ok=True)
    write_file(folder / extractor, lambda tmp: tmp.write_text(""), shared=True)


#: where reusable per-video results live unless the config's `cache: {dir: ...}` says otherwise
DEFAULT_DIR = "results/cache"


def across_versions(config: dict) -> bool:
    """`cache: {across_versions: true}`: reuse results computed under other package versions
    (the user judged them equal; the stores and the report say so)."""
    return bool((config.get("cache") or {}).get("across_versions", False))


def cache_dir(config: dict) -> str | None:
    """The cache folder the configuration asks for; None when `cache: {enabled: false}`."""
    spec = config.get("cache") or {}
    if spec.get("enabled", True) is False:
        return None
    return str(spec.get("dir") or DEFAULT_DIR)
