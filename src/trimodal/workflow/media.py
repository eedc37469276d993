"""What planning knows of a media file: whether it exists and its identity.

The one place the plan looks at a media file (the sheet's ``video`` / ``ad_audio`` / ``ad_map``),
so that a storage provider can answer instead of the local disk for a path that is not local.
Locally: ``os.path`` and :func:`trimodal.store.reuse.file_identity`.
"""

from __future__ import annotations

import os

from trimodal.store.reuse import file_identity


def media_exists(path: str | None) -> bool:
    """Whether the media file `path` exists (False for an empty cell)."""
    return bool(path) and os.path.exists(path)


def media_identity(path: str | None, fingerprint: bool = False) -> str | int | None:
    """What the probe's params know of a media file, so that a file replaced in place with its
    old mtime (cp -p, rsync -t) still reruns its jobs: its size (a stat, as cheap as the mtime
    check), or with `fingerprint` "<size>:<hash of three 64 KiB blocks>"; None when absent."""
    if not media_exists(path):
        return None
    if fingerprint:
        ident = file_identity(path)
        return f"{ident['size']}:{ident['blocks']}"
    return os.stat(path).st_size
