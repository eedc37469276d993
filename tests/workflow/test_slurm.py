"""The workflow on a real single-node SLURM, through the official executor plugin.

Brings up Debian's slurmctld/slurmd/munge on localhost (tests/slurm/up.sh; needs root, as CI
has), submits the workflow on a small real corpus with `--profile profiles/slurm`, checks that
the jobs really ran under SLURM (each per-video file records its SLURM job id, and the plugin's
SLURM logs exist), that the stores equal those of a local run, and tears SLURM down. Hard
timeouts and `scancel` on the way out: nothing here may hang CI.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import h5py
import pandas as pd
import pytest

from tests.workflow_project import BIN, ROOT, assert_same_store, make_project

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("bringing up SLURM needs root")
    state = tmp_path_factory.mktemp("slurm")
    up = subprocess.run(
        ["bash", str(ROOT / "tests/slurm/up.sh"), str(state)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if up.returncode != 0:
        pytest.fail(f"SLURM did not come up:\n{up.stdout}\n{up.stderr}")
    yield state
    subprocess.run(["bash", str(ROOT / "tests/slurm/down.sh"), str(state)], timeout=120)


def test_workflow_under_slurm_matches_local_run(slurm, project, tmp_path):
    sheet = pd.read_csv(
        project / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False
    )
    wd = make_project(tmp_path / "slurm_run", sheet)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "YOLO_OFFLINE": "1",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    cmd = [
        "timeout",
        "-s",
        "KILL",
        "1200",
        str(BIN / "snakemake"),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(wd),
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        # test overlay: no slurmdbd here, so status comes from squeue; short first check
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
        "--cores",
        "2",
        "--jobs",
        "4",
        "--groups",
        "extract_effnet=extract",
        "extract_yamnet=extract",
        "extract_sbert_desc=extract",
        "--group-components",
        "extract=30",
        "--default-resources",
        "slurm_partition=debug",
        "mem_mb=1500",
        "runtime=30",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1300)
    finally:
        subprocess.run(["scancel", "--user", "root"], timeout=30)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "slurm" in out.lower()
    job_ids = set()
    for f in (wd / "results" / "extract").rglob("*.h5"):
        with h5py.File(f) as h5:
            job_ids.add(str(h5.attrs["slurm_job_id"]))
    assert "" not in job_ids and job_ids, "every extract job must have run inside a SLURM job"
    # grouping: the extract jobs of all videos ran in a few SLURM jobs, not one per video
    n_files = len(list((wd / "results" / "extract").rglob("*.h5")))
    assert len(job_ids) < n_files
    assert list(Path(wd / ".snakemake" / "slurm_logs").rglob("*.log"))
    for name in ("effnet", "yamnet", "sbert_desc"):
        assert_same_store(
            project / "results/features" / f"{name}.h5", wd / "results/features" / f"{name}.h5"
        )
