"""Snakemake's own DAG of the demo (config/config.yaml on the demo sheet), walked job by job
(tests/dag_params.py): no param names a file (an existing one, or one under results/), and
the GPU resource follows the configured device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.workflow_project import ROOT, demo_sheet

pytestmark = pytest.mark.slow


def demo_project(tmp_path: Path, **config) -> Path:
    sheet = demo_sheet()
    for col in ("video", "ad_audio"):
        sheet[col] = [str((ROOT / p).resolve()) if p else "" for p in sheet[col]]
    (tmp_path / "config").mkdir(parents=True)
    sheet.to_csv(tmp_path / "config" / "videos.tsv", sep="\t", index=False)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["model_cache"] = str(ROOT / "resources" / "models")
    cfg.update(config)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return tmp_path


def dag_jobs(workdir: Path, gpus: str = "0") -> list[dict]:
    env = {**os.environ, "TRIMODAL_GPUS": gpus,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "dag_params.py"), str(workdir),
         str(ROOT / "Snakefile")],  # fmt: skip
        capture_output=True, text=True, env=env, timeout=600, cwd=workdir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.split("JOBS-JSON ", 1)[1])


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def test_no_param_of_any_job_names_a_file(tmp_path):
    wd = demo_project(tmp_path)
    jobs = dag_jobs(wd)
    assert (
        len(jobs) == 94
    )  # the demo's plan: 89 as before the move, plus the explorer and 4 thumbnail jobs
    offenders = []
    for job in jobs:
        for name, value in job["params"].items():
            for s in strings(value):
                if "results/" in s or (s.strip() and ("/" in s or "." in s)
                                       and os.path.exists(wd / s)):  # fmt: skip
                    offenders.append(f"{job['rule']}: params.{name}: {s[:80]}")
    assert offenders == []
    # ... and the files its jobs read are their inputs: the media of every extractor job
    media = {r for r in demo_project_media(wd)}
    inputs = {f for job in jobs for f in job["input"]}
    assert media <= inputs


def demo_project_media(wd: Path):
    import pandas as pd

    sheet = pd.read_csv(wd / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False)
    return [p for col in ("video", "ad_audio") for p in sheet[col] if p]


def test_gpu_resources_follow_the_device(tmp_path):
    auto = dag_jobs(demo_project(tmp_path / "auto"), gpus="1")
    by_rule = {}
    for job in auto:
        by_rule.setdefault(job["rule"], job["resources"].get("gpu"))
    assert by_rule["crossmodal_pair"] == 1  # mlp / autoencoder train on the GPU
    assert by_rule["extract_effnet"] == 1
    assert by_rule["extract_yamnet"] is None and by_rule["probe"] is None
    cpu = dag_jobs(demo_project(tmp_path / "cpu", device="cpu"), gpus="1")
    assert [j["rule"] for j in cpu if "gpu" in j["resources"]] == []
