"""How long Snakemake takes to plan a large corpus: `snakemake -n` over N videos.

Generates a sample sheet of N videos (ids distinct, paths pointing at a handful of real demo
clips), writes a project with the repository's config, and times a dry run of the full DAG
(one probe + one job per extractor per video + stores + classify + report). Also times the
streaming aggregation of an N-video store from synthetic per-video files.

    python bench/bench_dag.py --videos 10000 [--batch auto|1|50] [--store-videos 0]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workflow_project import demo_sheet, make_project  # noqa: E402


def big_sheet(n: int) -> pd.DataFrame:
    demo = demo_sheet()
    demo = demo[demo["label"] != ""].head(8)
    rows = demo.sample(n=n, replace=True, random_state=0).reset_index(drop=True)
    rows["video_id"] = [f"v{i:06d}" for i in range(n)]
    for col in ("video", "ad_audio"):
        rows[col] = [str((ROOT / p).resolve()) if p else "" for p in rows[col]]
    return rows


def time_dry_run(workdir: Path) -> tuple[float, float, float, dict[str, int]]:
    """(wall seconds, CPU seconds, peak MB, jobs per rule) of `snakemake -n` over the DAG."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "-n",
            "--quiet",
            "rules",
            "all",
            "--cores",
            "2",
            "--directory",
            str(workdir),
            "--snakefile",
            str(ROOT / "Snakefile"),
        ],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit((proc.stdout + proc.stderr)[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    jobs = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total"):
            jobs[parts[0]] = int(parts[1])
    return elapsed, cpu, after.ru_maxrss / 1024, jobs


def time_aggregation(n: int, d: int, workdir: Path) -> tuple[float, float]:
    from trimodal.extractors.base import Features
    from trimodal.extractors.pooling import pool_all
    from trimodal.store import features as store

    files = []
    rng = np.random.default_rng(0)
    header = {"extractor": "bench", "kind": "bench", "modality": "audio", "model": "", "params": {}}
    for i in range(n):
        w = rng.normal(size=(5, d)).astype(np.float32)
        f = workdir / "pv" / f"v{i:06d}.h5"
        store.write_video_file(
            f,
            f"v{i:06d}",
            header,
            features=Features(windows=w, times=np.zeros((5, 2)), pooled=pool_all(w)),
        )
        files.append(f)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    store.aggregate(files, workdir / "store.h5")
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return elapsed, (after - before) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=10000)
    ap.add_argument("--store-videos", type=int, default=10000)
    ap.add_argument("--batch", default="auto", help="videos per probe/extract job (`batch:`)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sheet = big_sheet(args.videos)
        wd = make_project(tmp / "proj", sheet)
        import yaml

        cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        n_ex = len(cfg["extractors"])
        # the repository's own extractor list, not the small test one
        c = yaml.safe_load((wd / "config" / "config.yaml").read_text())
        c["extractors"], c["text_sources"] = cfg["extractors"], cfg.get("text_sources", {})
        batch = args.batch if args.batch == "auto" else int(args.batch)
        for spec in c["extractors"].values():
            spec["batch"] = batch
        c.setdefault("probe", {})["batch"] = batch
        for key in ("classify", "labels", "fusion", "crossmodal"):
            if key in cfg:
                c[key] = cfg[key]
        (wd / "config" / "config.yaml").write_text(yaml.safe_dump(c, sort_keys=False))
        elapsed, cpu, peak_mb, jobs = time_dry_run(wd)
        per_video = sum(v for k, v in jobs.items() if k == "probe" or k.startswith("extract_"))
        print(
            f"dry run: {args.videos} videos, {n_ex} extractors, batch {args.batch}: "
            f"{per_video} probe + extract jobs, {sum(jobs.values())} jobs in all: "
            f"{elapsed:.1f} s wall, {cpu:.1f} s CPU, peak memory {peak_mb:.0f} MB"
        )
        if not args.store_videos:
            return
        agg_s, agg_mb = time_aggregation(args.store_videos, 128, tmp)
        print(
            f"aggregation: {args.store_videos} per-video files (128-d, 5 windows each): "
            f"{agg_s:.1f} s, peak RSS growth {agg_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()
