"""A local S3 server for tests (moto's, on the loopback only) and helpers to run the workflow
with its media, or all of it, in a bucket there.

The server runs in the test process (a thread); Snakemake, started as a subprocess, reaches it
through the storage plugin's settings in its environment (SNAKEMAKE_STORAGE_S3_*). Any access
key works with moto.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tests.workflow_project import SMALL_EXTRACTORS, small_sheet

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"

#: cheap extractors: a text one without a model, a media one with a small ONNX model; batches
#: of 4, so a replaced video shares its batch with others (per-video reuse inside it)
S3_EXTRACTORS = {
    "text": {"kind": "text_raw", "model": None, "params": {"sources": ["description"]},
             "batch": 4},
    "yamnet": {**SMALL_EXTRACTORS["yamnet"], "batch": 4},
}  # fmt: skip
#: what the S3 tests build: the stores and the failures table (no classification)
S3_TARGETS = (
    "results/features/text.h5",
    "results/features/yamnet.h5",
    "results/failures.tsv",
)


@dataclass
class S3Server:
    """A running moto server: its endpoint and a boto3 client for the test's own uploads."""

    endpoint: str

    def env(self) -> dict[str, str]:
        """The environment that points Snakemake's S3 plugin (and boto3) at this server."""
        return {
            "SNAKEMAKE_STORAGE_S3_ENDPOINT_URL": self.endpoint,
            "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": ACCESS_KEY,
            "SNAKEMAKE_STORAGE_S3_SECRET_KEY": SECRET_KEY,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def resource(self):
        import boto3

        return boto3.resource(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def upload(self, local: str | Path, bucket: str, key: str) -> str:
        """Put a local file at s3://bucket/key; the URL."""
        self.client().upload_file(str(local), bucket, key)
        return f"s3://{bucket}/{key}"

    def keys(self, bucket: str, prefix: str = "") -> dict[str, dict]:
        """key -> its listing entry (Size, LastModified, ETag) of every object under prefix."""
        out = {}
        pages = self.client().get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=bucket, Prefix=prefix):
            out.update({item["Key"]: item for item in page.get("Contents", ())})
        return out

    def download(self, bucket: str, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.client().download_file(bucket, key, str(dest))
        return dest


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's threaded server on 127.0.0.1 and a free port, stopped on exit."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()


def s3_sheet(per_label: int = 2) -> pd.DataFrame:
    """A small demo subset (per_label clips per class) with local absolute media paths and
    no AD track (the extractors here read the soundtrack)."""
    return small_sheet(per_label=per_label, extra_ids=()).assign(ad_audio="")


def upload_media(server: S3Server, sheet: pd.DataFrame, bucket: str, prefix: str) -> dict:
    """Upload each row's video to <prefix>/<file name>: video_id -> its key."""
    keys = {}
    for vid, path in zip(sheet["video_id"], sheet["video"], strict=True):
        key = f"{prefix}/{Path(path).name}"
        server.upload(path, bucket, key)
        keys[vid] = key
    return keys


def storage_args(bucket: str, prefix: str) -> tuple[str, ...]:
    """The whole run in the bucket (way b): outputs, logs and benchmarks under the prefix."""
    return (
        "--default-storage-provider",
        "s3",
        "--default-storage-prefix",
        f"s3://{bucket}/{prefix}",
    )
