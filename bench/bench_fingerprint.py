"""Cost of the media identity the probe and the reuse cache use, on a large file.

Writes a file of --gb gigabytes (random bytes), evicts it from the page cache
(posix_fadvise DONTNEED) so the reads hit the disk, and times `trimodal.store.reuse.file_identity`
(size, mtime and a hash of three 64 KiB blocks) against hashing the whole file.

    python bench/bench_fingerprint.py [--gb 3.6] [--path /tmp/big.bin]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

from trimodal.store.reuse import file_identity


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=3.6)
    ap.add_argument("--path", type=Path, default=Path("/tmp/bench_fingerprint.bin"))
    args = ap.parse_args()
    size = int(args.gb * 2**30)
    with open(args.path, "wb") as f:
        block = os.urandom(2**20)
        for _ in range(size // 2**20):
            f.write(block)
    try:
        times = []
        for _ in range(5):
            evict(args.path)
            t = time.perf_counter()
            file_identity(args.path)
            times.append(time.perf_counter() - t)
        evict(args.path)
        t = time.perf_counter()
        h = hashlib.sha256()
        with open(args.path, "rb") as f:
            for chunk in iter(lambda: f.read(2**24), b""):
                h.update(chunk)
        whole = time.perf_counter() - t
        print(f"{args.gb} GB file: file_identity (3 x 64 KiB blocks, cold) "
              f"min {min(times) * 1e3:.1f} ms, median {sorted(times)[2] * 1e3:.1f} ms, "
              f"max {max(times) * 1e3:.1f} ms; sha256 of the whole file {whole:.1f} s")  # fmt: skip
    finally:
        args.path.unlink()


if __name__ == "__main__":
    main()
