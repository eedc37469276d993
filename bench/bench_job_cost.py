"""What one job costs before it does any work, per job kind: a 1-video job, forced to rerun.

Builds a project with one demo clip (labelled, with an AD track) and the shipped extractors,
runs it once, then forces each probe/extract job to rerun alone and reads its `cpu_time` and wall
seconds (`s`) from the job's `benchmark:` file (the method of shared/STARTUP.md; Snakemake
samples CPU time periodically, so a job shorter than about a second can read 0 CPU-s: its
wall time is the reliable figure then). With the per-video result cache
on, a forced rerun reuses the video (start-up, imports, no model); with it off, it loads the
model and computes the one video. Point --workflow at an older checkout to measure it the same
way (its per-video jobs); --runs repeats each measurement (median printed).

    python bench/bench_job_cost.py [--workflow DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def make(wd: Path, workflow: Path, video_id: str) -> dict:
    cfg = yaml.safe_load((workflow / "config" / "config.yaml").read_text())
    sheet = pd.read_csv(ROOT / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet = sheet[sheet["video_id"] == video_id]
    for col in ("video", "ad_audio"):
        sheet[col] = [str((ROOT / p).resolve()) if p else "" for p in sheet[col]]
    cfg["samples"] = "config/videos.tsv"
    cfg["classify"]["label_sets"] = ["youtube"]  # never built: only stores are targets
    cfg["labels"]["sets"] = {"youtube": cfg["labels"]["sets"]["youtube"]}
    for key in ("fusion", "crossmodal"):
        cfg.pop(key, None)
    cfg["classify"].pop("finetune", None)
    (wd / "config").mkdir(parents=True)
    sheet.to_csv(wd / "config" / "videos.tsv", sep="\t", index=False)
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg


def snakemake(wd: Path, workflow: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(workflow / "src")}
    cmd = [str(Path(sys.executable).parent / "snakemake"), "--snakefile",
           str(workflow / "Snakefile"), "--directory", str(wd), "--cores", "2", *args]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])


def outputs(wd: Path) -> dict[str, Path]:
    """rule -> the output file or folder of its one job (per-video or batch layout)."""
    out = {}
    for b in sorted((wd / "benchmarks").rglob("*.tsv")):
        rel = b.relative_to(wd / "benchmarks")
        if rel.parts[0] == "probe":
            out["probe"] = rel
        elif rel.parts[0] == "extract":
            out[f"extract_{rel.parts[1]}"] = rel
    return out


def target_of(bench_rel: Path) -> str:
    """The output path a benchmark file belongs to (same layout under results/)."""
    parts = bench_rel.with_suffix("").parts
    if parts[0] == "probe":
        return "results/" + "/".join(parts) + ("" if "batches" in parts else ".json")
    return "results/" + "/".join(parts) + ("" if "batches" in parts else ".h5")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workflow", type=Path, default=ROOT)
    ap.add_argument("--video", default="qabcs_animals_bird")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_job_cost"))
    args = ap.parse_args()
    wd = args.out / args.workflow.name
    shutil.rmtree(wd, ignore_errors=True)
    cfg = make(wd, args.workflow, args.video)
    targets = [f"results/features/{n}.h5" for n in cfg["extractors"]]
    snakemake(wd, args.workflow, *targets)
    modes = {"reused": []}
    if (args.workflow / "src" / "trimodal" / "store" / "reuse.py").exists():
        (wd / "nocache.yaml").write_text("cache: {enabled: false}\n")
        modes["computed"] = ["--configfile", str(wd / "nocache.yaml")]
    else:
        modes = {"computed": []}
    table = {}
    for rule, bench in outputs(wd).items():
        for mode, extra in modes.items():
            if rule == "probe" and mode == "reused":
                continue
            cpu, wall = [], []
            for _ in range(args.runs):
                snakemake(wd, args.workflow, "--forcerun", target_of(bench), "--until",
                          target_of(bench), *extra, "--", target_of(bench))  # fmt: skip
                row = pd.read_csv(wd / "benchmarks" / bench, sep="\t").iloc[0]
                cpu.append(float(row["cpu_time"]))
                wall.append(float(row["s"]))
            table.setdefault(rule, {})[mode] = {
                "cpu_s": round(statistics.median(cpu), 2),
                "wall_s": round(statistics.median(wall), 2),
            }
    print(json.dumps({"workflow": str(args.workflow), "video": args.video, "median": table}))


if __name__ == "__main__":
    main()
