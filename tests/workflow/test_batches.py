"""Batch sizes (`batch: N`, `batch: 1`): one job per N videos, one model load, same stores."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest

from tests.workflow_project import (
    SMALL_EXTRACTORS,
    assert_same_store,
    make_project,
    per_video,
    planned_jobs,
    snakemake,
)

pytestmark = pytest.mark.slow

SIZES = {"effnet": 3, "yamnet": 4, "sbert_desc": 20}


def batched_extractors() -> dict:
    ex = copy.deepcopy(SMALL_EXTRACTORS)
    for name, size in SIZES.items():
        ex[name]["batch"] = size
    return ex


def project_sheet(project) -> pd.DataFrame:
    return pd.read_csv(
        project / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False
    )


@pytest.fixture(scope="module")
def batched(project, tmp_path_factory):
    wd = make_project(
        tmp_path_factory.mktemp("batched"), project_sheet(project), batched_extractors()
    )
    n = len(project_sheet(project))
    jobs = planned_jobs(wd)
    for name, size in SIZES.items():
        assert jobs[f"extract_{name}"] == math.ceil(n / size), (name, jobs)
    assert jobs["probe"] == 1  # auto: the 10 videos are one probe batch
    snakemake(wd)
    return wd


@pytest.fixture(scope="module")
def one_job_per_video(project, tmp_path_factory):
    wd = make_project(
        tmp_path_factory.mktemp("per_video"), project_sheet(project), per_video(), probe_batch=1
    )
    snakemake(wd)
    return wd


def test_batched_runs_give_the_per_video_runs_stores(project, batched, one_job_per_video):
    for name in SIZES:
        for wd in (project, batched):  # auto-sized batches and fixed sizes
            assert_same_store(
                one_job_per_video / "results" / "features" / f"{name}.h5",
                wd / "results" / "features" / f"{name}.h5",
                exact=True,
            )
    # the bad inputs are error records inside their batch, not failed jobs
    failures = pd.read_csv(batched / "results" / "failures.tsv", sep="\t")
    assert {"bad_truncated", "bad_noaudio"} <= set(failures["video_id"])
    # one model load per batch job: its log names every video of the batch
    log = (batched / "logs" / "extract" / "effnet" / "batches" / "b00000.log").read_text()
    assert "batch of 3 videos" in log


def test_appending_a_video_computes_only_it(batched, tmp_path):
    """The probe batch (auto: all 10 videos) takes the new row and reruns, so every extract
    batch behind it reruns too, but each reuses its unchanged videos: one model call each."""
    import shutil

    from tests.workflow_project import extract_counts

    wd = tmp_path / "appended"
    shutil.copytree(batched, wd, symlinks=True)  # results, cache and metadata, mtimes kept
    shutil.rmtree(wd / "logs")
    sheet = wd / "config" / "videos.tsv"
    df = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    new = df.iloc[[0]].copy()
    new["video_id"] = "appended_video"
    pd.concat([df, new]).to_csv(sheet, sep="\t", index=False)
    jobs = planned_jobs(wd)
    assert jobs["probe"] == 1 and jobs["store"] == len(SIZES)
    snakemake(wd)
    for name in SIZES:
        counts = extract_counts(wd, name)
        # the new video is the one model call; every other video reused or an error record
        assert counts["computed"] == 1, (name, counts)
        assert counts["computed"] + counts["reused"] + counts["errors"] == len(df) + 1, counts


def test_changing_a_batched_extractors_params_reruns_all_its_batches_only(batched):
    import yaml

    cfg_path = batched / "config" / "config.yaml"
    original = cfg_path.read_text()
    cfg = yaml.safe_load(original)
    cfg["extractors"]["effnet"]["params"]["max_frames"] = 4
    try:
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        jobs = planned_jobs(batched)
    finally:
        cfg_path.write_text(original)
    n = len(pd.read_csv(batched / "config" / "videos.tsv", sep="\t"))
    per_video = {k: v for k, v in jobs.items() if k.startswith("extract_") or k == "probe"}
    assert per_video == {"extract_effnet": math.ceil(n / SIZES["effnet"])}
    assert jobs["store"] == 1


def test_shards_take_whole_batches(batched, tmp_path):
    sheet = pd.read_csv(batched / "config" / "videos.tsv", sep="\t", dtype=str,
                        keep_default_na=False)  # fmt: skip
    wd = make_project(tmp_path / "sharded", sheet, batched_extractors())
    n = len(sheet)
    per_shard = [planned_jobs(wd, "--config", f"shard={i}/2") for i in (1, 2)]
    blocks = (n // 2, n - n // 2)  # two contiguous blocks; batches are cut inside each
    for name, size in SIZES.items():
        expected = sum(math.ceil(b / size) for b in blocks)
        assert sum(j.get(f"extract_{name}", 0) for j in per_shard) == expected
