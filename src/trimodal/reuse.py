"""Per-video reuse inside batch jobs: a content-addressed cache of per-video result files.

Snakemake deletes a rerunning job's outputs before it starts, so a batch job that reruns
because one of its videos changed would recompute all of them. Each per-video result is
therefore also kept under ``<cache dir>/<extractor>/<key[:2]>/<key>.h5``, where the key is a
hash of everything that result depends on: the video id, the extractor's name, kind, model (spec and weights
fingerprint), params, code hash, the device, and the video's own inputs (the media file's size,
mtime and a hash of a few of its blocks; its description and source texts; its probe). A rerun
links the file back instead of calling the model, so only videos whose inputs changed are
recomputed, and the result is the same file a fresh run wrote.

Entries are written by hard link (or copy) through trimodal.atomic (a temporary name, then a
rename), so a killed job never leaves an entry that a later run could reuse half-written.
Deleting the folder is always safe: it only costs recomputation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from trimodal.atomic import write_file

#: blocks hashed to tell two files of the same size and mtime apart (start, middle, end)
SAMPLE_BLOCK = 64 * 1024


def file_identity(path: str | os.PathLike) -> dict[str, Any]:
    """Cheap identity of a media file: size, mtime (ns) and a hash of three 64 KiB blocks.

    Reads at most 192 KiB whatever the file's size; a file replaced in place with its mtime
    kept (``cp -p``, ``rsync -t``) still changes identity unless those blocks are equal.
    """
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for offset in sorted({0, max(0, st.st_size // 2 - SAMPLE_BLOCK // 2),
                              max(0, st.st_size - SAMPLE_BLOCK)}):  # fmt: skip
            f.seek(offset)
            h.update(f.read(SAMPLE_BLOCK))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "blocks": h.hexdigest()[:16]}


def result_key(parts: dict[str, Any]) -> str:
    """sha256 of the JSON of `parts` (sorted keys): the cache key of one per-video result."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _link_or_copy(src: Path, dst: Path, shared: bool = False) -> None:
    """Put `src`'s bytes at `dst` atomically (hard link where possible, else a copy)."""

    def place(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:  # another filesystem, or links not allowed
            shutil.copyfile(src, tmp)

    write_file(dst, place, shared=shared)


class ResultCache:
    """Per-extractor folder of reusable per-video results; ``root=None`` disables it."""

    def __init__(self, root: str | os.PathLike | None, extractor: str):
        self.root = Path(root) / extractor if root else None

    def path(self, key: str) -> Path | None:
        return self.root / key[:2] / f"{key}.h5" if self.root else None

    def fetch(self, key: str, output: str | os.PathLike) -> bool:
        """Place the cached result at `output` (fresh mtime); False when there is none."""
        path = self.path(key)
        if path is None or not path.is_file():
            return False
        _link_or_copy(path, Path(output))
        os.utime(output)  # a reused file is as new as the job that placed it
        return True

    def keep(self, key: str, output: str | os.PathLike) -> None:
        """Remember the finished result at `output` under `key`."""
        path = self.path(key)
        if path is not None:
            _link_or_copy(Path(output), path, shared=True)  # a cache may serve many runs


#: where reusable per-video results live unless the config's `cache: {dir: ...}` says otherwise
DEFAULT_DIR = "results/cache"


def cache_dir(config: dict) -> str | None:
    """The cache folder the configuration asks for; None when `cache: {enabled: false}`."""
    spec = config.get("cache") or {}
    if spec.get("enabled", True) is False:
        return None
    return str(spec.get("dir") or DEFAULT_DIR)
