"""The workflow with its media and results in S3 against local files, side by side (issue 31).

A local S3 server (moto, loopback only) in this process; Snakemake runs as a subprocess.

1. The demo subset (8 clips, text_raw + yamnet, batches of 4) run locally and under
   ``--default-storage-provider s3``: the sums of the jobs' wall and CPU seconds from
   Snakemake's benchmark files (in the bucket for the S3 run), and the command's wall.
2. Dry-run plan time for N videos (default 2,000; tiny placeholder files / objects): local
   files; s3:// URLs in the sheet (way a); everything under the default provider (way b), each
   remote way once as is and once more with ``--trust-io-cache`` (after that first dry run),
   with the number of requests the server answered.

    python bench/bench_s3.py [--videos 2000] [--no-subset]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.s3_server import (  # noqa: E402
    S3_EXTRACTORS,
    S3_TARGETS,
    s3_server,
    s3_sheet,
    storage_args,
    upload_media,
)
from tests.workflow_project import make_project, snakemake  # noqa: E402

BUCKET = "bench"


class Requests(logging.Handler):
    """Counts the requests moto's server logs (one line each)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def emit(self, record):
        self.n += 1


def count_requests() -> Requests:
    handler = Requests()
    log = logging.getLogger("werkzeug")
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler


def bench_sums(folder: Path) -> tuple[int, float, float]:
    """(jobs, sum of wall s, sum of cpu_time s) over Snakemake's benchmark TSVs under folder."""
    n, wall, cpu = 0, 0.0, 0.0
    for tsv in folder.rglob("*.tsv"):
        df = pd.read_csv(tsv, sep="\t")
        n += 1
        wall += float(df["s"].iloc[-1])
        cpu += float(df["cpu_time"].iloc[-1])
    return n, wall, cpu


def timed(wd: Path, *args: str, env=None) -> float:
    t0 = time.perf_counter()
    snakemake(wd, *args, env=env, timeout=3600)
    return time.perf_counter() - t0


def subset(s3, tmp: Path) -> list[tuple]:
    sheet = s3_sheet(per_label=2)
    rows = []
    local = make_project(tmp / "local", sheet, S3_EXTRACTORS, ("yamnet:mean",), probe_batch=4)
    wall = timed(local, *S3_TARGETS)
    rows.append(("local files", wall, *bench_sums(local / "benchmarks")))
    keys = upload_media(s3, sheet, BUCKET, "subset/media")
    relative = sheet.assign(video=[keys[v].removeprefix("subset/") for v in sheet["video_id"]])
    remote = make_project(tmp / "s3", relative, S3_EXTRACTORS, ("yamnet:mean",), probe_batch=4)
    wall = timed(remote, *storage_args(BUCKET, "subset"), *S3_TARGETS, env=s3.env())
    got = tmp / "s3-benchmarks"
    for key in s3.keys(BUCKET, "subset/benchmarks/"):
        s3.download(BUCKET, key, got / key.removeprefix("subset/benchmarks/"))
    rows.append(("S3 default provider", wall, *bench_sums(got)))
    return rows


def plan_times(s3, tmp: Path, n: int, requests: Requests) -> list[tuple]:
    ids = [f"v{i:05d}" for i in range(n)]
    media = tmp / "plan-local" / "media"
    media.mkdir(parents=True)
    for vid in ids:
        (media / f"{vid}.mp4").write_bytes(b"x")
    client = s3.client()
    for vid in ids:
        client.put_object(Bucket=BUCKET, Key=f"plan/media/{vid}.mp4", Body=b"x")
    base = pd.DataFrame(
        {
            "video_id": ids,
            "ad_audio": "",
            "description": "a clip",
            "label": [("a", "b")[i % 2] for i in range(n)],
        }
    )
    ways = {
        "local files": (base.assign(video=[f"media/{v}.mp4" for v in ids]), (), None),
        "s3:// URLs in the sheet (a)": (
            base.assign(video=[f"s3://{BUCKET}/plan/media/{v}.mp4" for v in ids]),
            (),
            s3.env(),
        ),
        "default provider (b)": (
            base.assign(video=[f"media/{v}.mp4" for v in ids]),
            storage_args(BUCKET, "plan"),
            s3.env(),
        ),
    }
    rows = []
    for name, (sheet, args, env) in ways.items():
        folder = tmp / ("plan-local" if env is None else f"plan-{len(rows)}")
        sheet = sheet[["video_id", "video", "ad_audio", "description", "label"]]
        wd = make_project(folder, sheet, S3_EXTRACTORS, ("yamnet:mean",))
        tries = [()] if env is None else [(), ("--trust-io-cache",)]
        for extra in tries:
            requests.n = 0
            wall = timed(wd, "--dry-run", *args, *extra, *S3_TARGETS, "--quiet", "rules", env=env)
            label = name + (" --trust-io-cache" if extra else "")
            rows.append((label, wall, requests.n))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=2000)
    ap.add_argument("--no-subset", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, s3_server() as s3:
        requests = count_requests()
        s3.bucket(BUCKET)
        if not args.no_subset:
            rows = subset(s3, Path(tmp))
            print("Demo subset (8 clips, text_raw + yamnet, batches of 4)")
            print(
                f"{'where':<24}{'command wall':>14}{'jobs':>6}{'job wall sum':>14}{'job CPU sum':>13}"
            )
            for where, wall, n, jwall, jcpu in rows:
                print(f"{where:<24}{wall:>13.1f}s{n:>6}{jwall:>13.1f}s{jcpu:>12.1f}s")
        rows = plan_times(s3, Path(tmp), args.videos, requests)
        print(f"\nDry-run plan time, {args.videos} videos (stores + failures table)")
        print(f"{'media':<46}{'wall':>8}{'S3 requests':>13}")
        for name, wall, n in rows:
            print(f"{name:<46}{wall:>7.1f}s{n:>13}")


if __name__ == "__main__":
    main()
