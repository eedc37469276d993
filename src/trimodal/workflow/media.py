"""What planning knows of a media file: whether it exists and its identity.

The one place the plan looks at a media file (the sheet's ``video`` / ``ad_audio`` / ``ad_map``),
so that a storage provider can answer instead of the local disk for a path that is not local.
Locally: ``os.path`` and :func:`trimodal.store.reuse.file_identity`. A remote path (a URL, or
any path under a default storage provider; :func:`configure`) is asked of its provider
(:class:`trimodal.workflow.storage.Storage`, which remembers what the sheet check learnt) and
has no identity here: its object's LastModified reruns its jobs.
"""

from __future__ import annotations

import os

from trimodal.store.reuse import file_identity
from trimodal.workflow.storage import Storage

#: where the run's files live (the Snakefile configures it from its storage settings)
_STORAGE = {"storage": Storage()}


def configure(storage: Storage) -> None:
    """Use `storage` for the checks below (the workflow's storage settings)."""
    _STORAGE["storage"] = storage


def media_exists(path: str | None) -> bool:
    """Whether the media file `path` exists (False for an empty cell)."""
    if not path:
        return False
    storage = _STORAGE["storage"]
    if storage.remote(path):
        return path not in storage.absent([path])
    return os.path.exists(path)


def media_identity(path: str | None, fingerprint: bool = False) -> str | int | None:
    """What the probe's params know of a media file, so that a file replaced in place with its
    old mtime (cp -p, rsync -t) still reruns its jobs: its size (a stat, as cheap as the mtime
    check), or with `fingerprint` "<size>:<hash of three 64 KiB blocks>"; None when absent,
    and for an object in storage (a replaced object has a new LastModified, which reruns its
    jobs; asking its size here would cost a request per object at every planning)."""
    if not path or _STORAGE["storage"].remote(path) or not media_exists(path):
        return None
    if fingerprint:
        ident = file_identity(path)
        return f"{ident['size']}:{ident['blocks']}"
    return os.stat(path).st_size
