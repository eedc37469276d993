"""Jobs as batches vs one job per video, on the demo configuration, side by side in one run.

Runs the shipped config/config.yaml on the demo sheet twice in fresh folders: once with one job
per video for the probe and every extractor (`batch: 1`, the layout before batching), once with
the default (`batch: auto`). Prints the CPU seconds of the probe and extract jobs (summed from
Snakemake's `benchmark:` files), each run's wall time, whether the stores are identical, and,
on the default run, what a rerun costs after editing one description, appending one video and
inserting one in the middle (model calls from the batch logs, wall time).

    python bench/bench_throughput.py [--targets stores|all] [--cores 2] [--out DIR]
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
sys.path.insert(0, str(ROOT))

from tests.workflow_project import assert_same_store, extract_counts  # noqa: E402


def project(wd: Path, per_video: bool) -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    if per_video:
        cfg.setdefault("probe", {})["batch"] = 1
        for spec in cfg["extractors"].values():
            spec["batch"] = 1
    wd.mkdir(parents=True)
    (wd / "config").mkdir()
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    shutil.copy(ROOT / "config" / "videos.tsv", wd / "config" / "videos.tsv")
    (wd / "resources").symlink_to(ROOT / "resources")
    return cfg


def freeze_workflow(out: Path) -> Path:
    """A copy of the workflow and package, so both runs use the same code whatever happens to
    the checkout meanwhile."""
    wf = out / "workflow_copy"
    for name in ("Snakefile", "workflow", "src", "profiles", "envs"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, wf / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            wf.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, wf / name)
    return wf


WF = ROOT


def run(wd: Path, targets: list[str], cores: int) -> float:
    cmd = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(WF / "Snakefile"),
           "--directory", str(wd), "--profile", str(WF / "profiles" / "default"),
           "--cores", str(cores), *targets]  # fmt: skip
    t = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(WF / "src")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{wd}: snakemake failed\n{proc.stderr[-4000:]}")
    return wall


def cpu_by_rule(wd: Path) -> dict[str, float]:
    """Summed cpu_time of the benchmark files, by stage (probe, extract_<name>)."""
    out: dict[str, float] = {}
    for f in (wd / "benchmarks").rglob("*.tsv"):
        rel = f.relative_to(wd / "benchmarks").parts
        if rel[0] == "probe":
            key = "probe"
        elif rel[0] == "extract":
            key = f"extract_{rel[1]}"
        else:
            continue
        out[key] = out.get(key, 0.0) + float(pd.read_csv(f, sep="\t")["cpu_time"].sum())
    return out


def targets_for(cfg: dict, which: str) -> list[str]:
    if which == "all":
        return ["all"]
    return [f"results/features/{n}.h5" for n in cfg["extractors"]] + ["results/failures.tsv"]


def rerun(wd: Path, cfg: dict, change, targets, cores) -> dict:
    sheet_path = wd / "config" / "videos.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, keep_default_na=False)
    change(sheet).to_csv(sheet_path, sep="\t", index=False)
    shutil.rmtree(wd / "logs", ignore_errors=True)
    wall = run(wd, targets, cores)
    calls = {n: extract_counts(wd, n)["computed"] for n in cfg["extractors"]}
    return {"wall_s": round(wall, 1), "model_calls": calls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", choices=["stores", "all"], default="all")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_throughput"))
    ap.add_argument("--skip-reruns", action="store_true")
    ap.add_argument(
        "--reruns-only",
        action="store_true",
        help="only the rerun figures, on --out's batched run (and frozen code)",
    )
    args = ap.parse_args()
    global WF
    if args.reruns_only:
        WF = args.out / "workflow_copy"
        cfg = yaml.safe_load((args.out / "batched" / "config" / "config.yaml").read_text())
        return reruns(args, cfg)
    shutil.rmtree(args.out, ignore_errors=True)
    WF = freeze_workflow(args.out)
    results = {}
    for mode in ("batched", "per_video"):  # the new default first: a failure shows early
        wd = args.out / mode
        cfg = project(wd, per_video=mode == "per_video")
        targets = targets_for(cfg, args.targets)
        wall = run(wd, targets, args.cores)
        cpu = cpu_by_rule(wd)
        results[mode] = {"wall_s": round(wall, 1), "cpu_s": round(sum(cpu.values()), 1),
                         "cpu_by_stage": {k: round(v, 1) for k, v in sorted(cpu.items())},
                         "jobs": len(list((wd / "benchmarks").rglob("*.tsv")))}  # fmt: skip
        print(mode, json.dumps(results[mode]), flush=True)
    pv, bt = results["per_video"], results["batched"]
    for name in cfg["extractors"]:
        assert_same_store(
            args.out / "per_video" / "results" / "features" / f"{name}.h5",
            args.out / "batched" / "results" / "features" / f"{name}.h5",
            exact=True,
        )
    print(f"stores identical (exact): {len(cfg['extractors'])} extractors")
    print(f"probe+extract CPU: {pv['cpu_s']} s -> {bt['cpu_s']} s "
          f"({pv['cpu_s'] / bt['cpu_s']:.1f}x lower)")  # fmt: skip
    print(f"workflow wall ({args.targets}): {pv['wall_s']} s -> {bt['wall_s']} s "
          f"({pv['wall_s'] / bt['wall_s']:.1f}x lower)")  # fmt: skip
    if not args.skip_reruns:
        reruns(args, cfg)


def reruns(args, cfg: dict) -> None:
    """Model calls and wall time of a rerun after each change, on the batched run."""
    wd = args.out / "batched"
    targets = targets_for(cfg, "stores")

    def edit(df):
        i = df.index[df["description"] != ""][10]
        df.loc[i, "description"] += " Seen from the left."
        return df

    def append(df):
        return pd.concat([df, df.iloc[[0]].assign(video_id="appended_video")])

    def insert(df):
        new = df.iloc[[1]].assign(video_id="inserted_video")
        return pd.concat([df.iloc[:30], new, df.iloc[30:]])

    for name, change in (("edit one description", edit), ("append one video", append),
                         ("insert one in the middle", insert)):  # fmt: skip
        print(name, json.dumps(rerun(wd, cfg, change, targets, args.cores)), flush=True)


if __name__ == "__main__":
    main()
