"""Scaling of the demo's extraction: 1 job at a time vs N at once, before vs after the threads
change (issue 25), side by side in one run.

"before" is the code of a base commit (default 1cd8658, unpacked with `git archive` into the
output folder: every runtime at its own default thread count), "after" is this checkout (each
runtime runs the job's `threads`, trimodal.plumbing.threads). For each code and each job count (1 and N,
default N = the cores this process may use) a fresh project gets the demo sheet (the first
--videos rows), the shipped extractors and the per-video cache off; the probe runs first (not
counted), then `snakemake --cores J <the extractors' stores>` is timed. Per extractor: CPU-s
(sum of `cpu_time` of its jobs' `benchmark:` files), CPU-s per second of video (the videos'
probed duration), and the jobs' summed wall time; per run: the wall time of the whole call.

    python bench/bench_scaling.py [--videos 20] [--jobs 2] [--base 1cd8658] [--out DIR]

Prints a markdown table and writes it, with the raw numbers (JSON), under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def unpack(commit: str, dest: Path) -> Path:
    """The tree of `commit` in `dest` (no git metadata touched)."""
    if not dest.exists():
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit],
                                 capture_output=True, check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def make(wd: Path, code: Path, videos: int) -> list[str]:
    """A project with the demo's first `videos` rows and this checkout's shipped config (the
    same work for both codes: only the runtimes' threads differ); its extract rules."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    sheet = pd.read_csv(ROOT / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet = sheet.head(videos).copy()
    for col in ("video", "ad_audio"):
        sheet[col] = [str((ROOT / p).resolve()) if p else "" for p in sheet[col]]
    cfg["samples"] = "config/videos.tsv"
    cfg["cache"] = {"enabled": False}
    (wd / "config").mkdir(parents=True)
    sheet.to_csv(wd / "config" / "videos.tsv", sep="\t", index=False)
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return [f"extract_{name}" for name in cfg["extractors"]]


def snakemake(wd: Path, code: Path, cores: int, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(code / "src")}
    env.pop("TRIMODAL_THREADS", None)
    cmd = [SNAKEMAKE, "--snakefile", str(code / "Snakefile"), "--directory", str(wd),
           "--cores", str(cores), "--rerun-incomplete", *args]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])
    return time.monotonic() - start


def video_seconds(wd: Path) -> float:
    total = 0.0
    for f in (wd / "results" / "probe").rglob("*.json"):
        video = json.loads(f.read_text()).get("video") or {}
        total += float(video.get("duration") or 0.0)
    return total


def run(code: Path, wd: Path, jobs: int, videos: int) -> dict:
    shutil.rmtree(wd, ignore_errors=True)
    rules = make(wd, code, videos)
    snakemake(wd, code, jobs, "--until", "probe")
    # the stores as targets (`--until` would stop at whisper_ad, whose transcript the MiniLM
    # on AD transcripts reads): the wall time includes the 7 small store jobs
    stores = [f"results/features/{rule[len('extract_') :]}.h5" for rule in rules]
    wall = snakemake(wd, code, jobs, *stores)
    seconds = video_seconds(wd)
    per = {}
    for rule in rules:
        name = rule[len("extract_") :]
        files = sorted((wd / "benchmarks" / "extract" / name).rglob("*.tsv"))
        rows = pd.concat([pd.read_csv(f, sep="\t") for f in files])
        cpu = float(rows["cpu_time"].sum())
        per[name] = {"cpu_s": round(cpu, 1), "cpu_per_video_s": round(cpu / seconds, 4),
                     "job_wall_s": round(float(rows["s"].sum()), 1), "jobs": len(files)}  # fmt: skip
    return {"wall_s": round(wall, 1), "video_s": round(seconds, 1), "extractors": per}


def table(results: dict, n: int) -> str:
    heads = [(code, jobs) for code in ("before", "after") for jobs in (1, n)]
    lines = [
        "| extractor | " + " | ".join(f"{c}, {j} job{'s' * (j > 1)}" for c, j in heads) + " |",
        "|---|" + "---|" * len(heads),
    ]
    names = list(results[f"after-{n}"]["extractors"])
    for name in names:
        cells = []
        for code, jobs in heads:
            r = results[f"{code}-{jobs}"]["extractors"].get(name)
            cells.append(
                "–" if r is None else f"{r['cpu_per_video_s']:.3f} ({r['job_wall_s']:.0f} s)"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    total = [sum(r["cpu_s"] for r in results[f"{c}-{j}"]["extractors"].values()) for c, j in heads]
    sec = results[f"after-{n}"]["video_s"]
    lines.append(
        "| **all, CPU-s per video-s** | " + " | ".join(f"**{t / sec:.3f}**" for t in total) + " |"
    )
    lines.append("| wall of the call (s) | " + " | ".join(
        f"{results[f'{c}-{j}']['wall_s']:.0f}" for c, j in heads) + " |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=20, help="first rows of the demo sheet")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--base", default="1cd8658", help="the 'before' commit")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_scaling"))
    args = ap.parse_args()
    codes = {"before": unpack(args.base, args.out / f"code-{args.base}"), "after": ROOT}
    results = {}
    for code, path in codes.items():
        for jobs in (1, args.jobs):
            results[f"{code}-{jobs}"] = run(path, args.out / f"{code}-{jobs}", jobs, args.videos)
            print(code, jobs, json.dumps(results[f"{code}-{jobs}"]), flush=True)
    md = table(results, args.jobs)
    (args.out / "scaling.json").write_text(json.dumps(results, indent=1))
    (args.out / "scaling.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
