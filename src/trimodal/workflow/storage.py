"""Media in object storage: which sheet paths are remote, how a rule declares them, and which
are absent, asked of the storage provider (never ``os.path`` on a path that is not local).

Two ways a corpus lives in a bucket (README, "Videos and results in S3"):

(a) sheet rows whose ``video`` / ``ad_audio`` are URLs (``s3://bucket/key``), results local:
    a rule declares such a path as ``storage(url)`` (Snakemake infers the provider from the
    scheme; its settings come from ``--storage-s3-*`` or ``SNAKEMAKE_STORAGE_S3_*``), and the
    job reads its local copy;
(b) the whole run under ``--default-storage-provider s3 --default-storage-prefix s3://...``:
    every relative path of a rule, the sheet's media included, becomes ``<prefix>/<path>``.
    An absolute or ``../`` media path would become a wrong key, so the sheet check refuses it.

Existence at planning is answered in bulk: the keys of one folder are listed once (one LIST
request per 1,000 keys) rather than one HEAD per object, so checking 2,000 remote rows costs a
few requests; a folder with few rows is asked per object.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from trimodal.store.reuse import STORAGE_COPIES_ENV

#: a path with a URL scheme (s3://, gs://, ...): an object, never a local file
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: at most this many objects of one folder are asked one by one; more: the folder is listed
HEAD_LIMIT = 10


def is_url(path: Any) -> bool:
    """A path with a URL scheme (``s3://bucket/key``): an object in storage."""
    return bool(_URL.match(str(path or "")))


@dataclass
class Storage:
    """Where the workflow's files live, as known at planning.

    `wrap`: Snakemake's ``storage`` (``storage(url)`` -> the local copy's path flagged with
    its storage object); `default_provider` / `default_prefix`: the run's
    ``--default-storage-provider`` / ``--default-storage-prefix``; `default_object`: query ->
    the default provider's storage object. All empty: every path is local.
    """

    wrap: Callable[[str], Any] | None = None
    default_provider: str | None = None
    default_prefix: str | None = None
    default_object: Callable[[str], Any] | None = None
    base_dir: Path = field(default_factory=lambda: Path("."))
    #: remote path -> whether it exists, as learnt (the sheet check asks every row once)
    known: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def from_workflow(cls, workflow, storage) -> Storage:
        """The storage settings of a running Snakemake workflow (`storage`: its global)."""
        settings = workflow.storage_settings
        provider = getattr(settings, "default_storage_provider", None)
        default_object = None
        if provider:
            default_object = workflow.storage_registry.default_storage_provider.object
        return cls(
            wrap=storage,
            default_provider=provider,
            default_prefix=getattr(settings, "default_storage_prefix", None),
            default_object=default_object,
        )

    # --- what a path is -------------------------------------------------------------------
    def remote(self, path: str) -> bool:
        """The path names an object: a URL, or any path under a default provider."""
        return is_url(path) or bool(self.default_provider)

    def query(self, path: str) -> str:
        """The object a remote path names (a URL as given; else under the default prefix, as
        Snakemake maps it)."""
        if is_url(path):
            return path
        prefix = (self.default_prefix or "").rstrip("/")
        return f"{prefix}/{os.path.normpath(path)}"

    def problem(self, path: str) -> str | None:
        """Why a sheet path cannot be used with these settings (None: it can)."""
        if is_url(path) and self.wrap is None:
            return f"{path} is a URL, but no storage is configured"
        if is_url(path) and not path.startswith("s3://"):
            return None  # another provider: Snakemake says whether it has a plugin for it
        if is_url(path):
            parsed = urlparse(path)
            if not parsed.netloc or not parsed.path.strip("/"):
                return f"{path} names no object (s3://bucket/key)"
            return None
        if self.default_provider and (os.path.isabs(path) or path.startswith("..")):
            return (
                f"{path} is outside the storage prefix: under --default-storage-provider a "
                f"media path must be relative (it becomes {self.default_prefix}/<path>) or a "
                f"URL (s3://bucket/key)"
            )
        return None

    def declare(self, path: str):
        """What a rule's `input:` names for a media path: ``storage(url)`` for a URL (Snakemake
        downloads it for the job); any other path as it is (a default provider maps it)."""
        if is_url(path) and self.wrap is not None:
            return self.wrap(path)
        return path

    # --- which are absent -----------------------------------------------------------------
    def absent(self, paths: Iterable[str]) -> set[str]:
        """The paths whose file or object does not exist (local ones: a stat each; remote ones:
        asked of their storage provider in bulk)."""
        paths = [p for p in dict.fromkeys(paths) if p]
        remote = [p for p in paths if self.remote(p)]
        out = {p for p in paths if not self.remote(p) and not (self.base_dir / p).exists()}
        ask = [p for p in remote if p not in self.known]
        if ask:
            gone = self._absent_objects(ask)
            self.known.update({p: p not in gone for p in ask})
        return out | {p for p in remote if not self.known[p]}

    def _object(self, path: str):
        if is_url(path):
            return self.wrap(path).flags["storage_object"]
        return self.default_object(self.query(path))

    def _absent_objects(self, paths: list[str]) -> set[str]:
        objects = {p: self._object(p) for p in paths}
        s3 = [p for p, o in objects.items() if hasattr(getattr(o, "provider", None), "s3c")]
        out = {p for p, o in objects.items() if p not in s3 and not o.exists()}
        return out | absent_s3({p: (objects[p].provider.s3c, self.query(p)) for p in s3})


def absent_s3(objects: dict[str, tuple[Any, str]]) -> set[str]:
    """path -> (boto3 S3 resource, s3:// URL): the paths whose object does not exist.

    Objects are grouped by bucket and folder; a folder of few is asked per object (HEAD), a
    larger one is listed once. A missing bucket makes all of its objects absent.
    """
    import botocore.exceptions

    groups: dict[tuple[int, str, str], list[tuple[str, str]]] = defaultdict(list)
    resources = {}
    for path, (s3, url) in objects.items():
        parsed = urlparse(url)
        key = posixpath.normpath(parsed.path.lstrip("/"))
        resources[id(s3)] = s3
        groups[(id(s3), parsed.netloc, posixpath.dirname(key))].append((path, key))
    out: set[str] = set()
    for (rid, bucket, folder), members in groups.items():
        client = resources[rid].meta.client
        try:
            client.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError:
            out |= {p for p, _ in members}
            continue
        if len(members) <= HEAD_LIMIT:
            for path, key in members:
                try:
                    client.head_object(Bucket=bucket, Key=key)
                except botocore.exceptions.ClientError as e:
                    if e.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                        raise
                    out.add(path)
            continue
        keys: set[str] = set()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{folder}/" if folder else ""
        )
        for page in pages:
            keys.update(item["Key"] for item in page.get("Contents", ()))
        out |= {p for p, key in members if key not in keys}
    return out


def announce_storage_copies(workflow) -> None:
    """Tell the jobs (through their environment) where Snakemake keeps its local copies of
    storage objects: the reuse cache keys those by content (trimodal.store.reuse)."""
    prefix = Path(workflow.storage_settings.local_storage_prefix).resolve()
    os.environ[STORAGE_COPIES_ENV] = str(prefix)
