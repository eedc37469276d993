"""The workflow with its media, and then all of it, in S3 (issue 31), against a local S3 server
(moto, loopback only), on a small demo subset with cheap extractors (text_raw, yamnet), in
batches of 4 so that a replaced video shares its batch:

(a) sheet rows whose video is an s3:// URL, results local;
(b) the whole run under --default-storage-provider s3 (media, results and logs in the bucket).

Both ways: the stores equal a local run's; a second run plans nothing; replacing one video
object recomputes that video only (its batch-mates are reused) and what depends on it; an
absent object stops the plan with the sheet's one message, or becomes a `missing` row under
`missing_media: skip`.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.s3_server import (
    S3_EXTRACTORS,
    S3_TARGETS,
    s3_server,
    s3_sheet,
    storage_args,
    upload_media,
)
from tests.workflow_project import (
    assert_same_store,
    extract_counts,
    job_stats,
    make_project,
    per_video,
    planned_jobs,
    snakemake,
    store_items,
)

pytestmark = pytest.mark.slow

BUCKET = "corpus"
FEATURE_SETS = ("yamnet:mean",)


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        server.bucket(BUCKET)
        yield server


@pytest.fixture(scope="module")
def sheet():
    return s3_sheet(per_label=2)  # 8 clips: two batches of 4


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, sheet):
    """The same rows, media and results on the local disk: the reference."""
    wd = make_project(
        tmp_path_factory.mktemp("local"), sheet, S3_EXTRACTORS, FEATURE_SETS, probe_batch=4
    )
    snakemake(wd, *S3_TARGETS)
    return wd


def project(tmp_path_factory, name, sheet):
    """Probe batches of 4 like the extractors': a replaced video reruns one batch of each."""
    return make_project(
        tmp_path_factory.mktemp(name), sheet, S3_EXTRACTORS, FEATURE_SETS, probe_batch=4
    )


def set_config(wd: Path, **values):
    path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update(values)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def replace_object(s3, sheet, key, vid):
    """Put another clip's bytes at the video's key (a new LastModified, other content)."""
    time.sleep(1.1)  # LastModified has a resolution of a second: later than the outputs
    other = sheet.loc[sheet["video_id"] != vid, "video"].iloc[0]
    s3.upload(other, BUCKET, key)


def yamnet_record(store: Path, vid: str):
    items = store_items(store)
    return {k: v for k, v in items.items() if k != "@attrs" and vid in k}


# ---------------------------------------------------------------------------- (a) URLs in the sheet
@pytest.fixture(scope="module")
def urls(s3, sheet, tmp_path_factory):
    keys = upload_media(s3, sheet, BUCKET, "media")
    remote = sheet.assign(video=[f"s3://{BUCKET}/{keys[v]}" for v in sheet["video_id"]])
    wd = project(tmp_path_factory, "urls", remote)
    snakemake(wd, *S3_TARGETS, env=s3.env())
    return wd, remote, keys


def test_urls_stores_equal_a_local_run(urls, local_run):
    wd, _, _ = urls
    assert not (wd / "media").exists()
    for name in S3_EXTRACTORS:
        assert_same_store(
            wd / "results" / "features" / f"{name}.h5",
            local_run / "results" / "features" / f"{name}.h5",
        )


def test_urls_second_run_plans_nothing_then_a_replaced_object_reruns_its_video_only(
    urls, s3, sheet
):
    wd, remote, keys = urls
    env = s3.env()
    assert planned_jobs(wd, *S3_TARGETS, env=env) == {}
    vid = remote["video_id"].iloc[1]
    store = wd / "results" / "features" / "yamnet.h5"
    before = yamnet_record(store, vid)
    replace_object(s3, sheet, keys[vid], vid)
    jobs = planned_jobs(wd, *S3_TARGETS, env=env)
    # its probe batch, its yamnet batch, the store and the failures table; no text job
    assert jobs == {"probe": 1, "extract_yamnet": 1, "store": 1, "failures": 1}, jobs
    shutil.rmtree(wd / "logs")
    snakemake(wd, *S3_TARGETS, env=env)
    counts = extract_counts(wd, "yamnet")
    assert counts == {"computed": 1, "reused": 3, "errors": 0}, counts
    after = yamnet_record(store, vid)
    assert sorted(after) == sorted(before)
    assert any(not (after[k] == before[k]).all() for k in after if hasattr(after[k], "all"))
    assert planned_jobs(wd, *S3_TARGETS, env=env) == {}


def test_urls_absent_object_stops_the_plan_or_is_a_missing_row(urls, s3, sheet, tmp_path):
    wd, remote, keys = urls
    env = s3.env()
    gone = remote.copy()
    gone.loc[2, "video"] = f"s3://{BUCKET}/media/not_there.mp4"
    gone.loc[5, "video"] = f"s3://{BUCKET}/elsewhere/nor_this.mp4"
    wd2 = make_project(tmp_path / "gone", gone, S3_EXTRACTORS, FEATURE_SETS, probe_batch=4)
    proc = snakemake(wd2, "--dry-run", *S3_TARGETS, env=env, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "2 problem(s)" in text and "Traceback" not in text
    assert (
        f"row 3 (line 4), column video: file does not exist: s3://{BUCKET}/media/not_there.mp4"
        in text
    )
    assert (
        f"row 6 (line 7), column video: file does not exist: s3://{BUCKET}/elsewhere/nor_this.mp4"
        in text
    )

    set_config(wd2, missing_media="skip")
    snakemake(wd2, *S3_TARGETS, env=env)
    failures = pd.read_csv(wd2 / "results" / "failures.tsv", sep="\t", dtype=str)
    missing = failures[failures["stage"] == "missing"]
    assert set(missing["video_id"]) == {gone.loc[2, "video_id"], gone.loc[5, "video_id"]}


def test_urls_per_video_jobs_declare_their_objects(urls, s3, tmp_path):
    """batch: 1 (one probe and extract job per video): each job's input is its object."""
    _, remote, _ = urls
    wd = make_project(
        tmp_path / "per_video", remote, per_video(S3_EXTRACTORS), FEATURE_SETS, probe_batch=1
    )
    proc = snakemake(wd, "--dry-run", *S3_TARGETS, env=s3.env())
    text = proc.stdout + proc.stderr
    jobs = job_stats(text)
    assert jobs["probe"] == jobs["extract_yamnet"] == jobs["extract_text"] == 8, jobs
    assert re.search(r"input: .*s3://corpus/media/qabcs_toys_doll.mp4", text)  # the object


# ---------------------------------------------------------------------------- (b) all in the bucket
@pytest.fixture(scope="module")
def in_bucket(s3, sheet, tmp_path_factory):
    keys = upload_media(s3, sheet, BUCKET, "run/media")
    relative = sheet.assign(video=[keys[v].removeprefix("run/") for v in sheet["video_id"]])
    wd = project(tmp_path_factory, "bucket", relative)
    snakemake(wd, *storage_args(BUCKET, "run"), *S3_TARGETS, env=s3.env())
    return wd, relative, keys


def fetch(s3, prefix: str, dest: Path) -> Path:
    """Download every object under `prefix` into dest (keys relative to the prefix)."""
    shutil.rmtree(dest, ignore_errors=True)
    for key in s3.keys(BUCKET, prefix):
        s3.download(BUCKET, key, dest / key.removeprefix(prefix))
    return dest


def test_bucket_holds_results_and_logs_and_stores_equal_a_local_run(
    in_bucket, s3, local_run, tmp_path
):
    wd, _, _ = in_bucket
    # nothing the run made is local but the reuse cache (local per machine, keyed by content)
    assert [p.name for p in (wd / "results").iterdir()] == ["cache"]
    assert not (wd / "logs").exists() and not (wd / "benchmarks").exists()
    keys = s3.keys(BUCKET, "run/")
    assert "run/results/failures.tsv" in keys
    assert any(k.startswith("run/logs/extract/yamnet/") for k in keys)
    assert any(k.startswith("run/results/extract/yamnet/batches/b00000/") for k in keys)
    got = fetch(s3, "run/results/features/", tmp_path / "features")
    for name in S3_EXTRACTORS:
        assert_same_store(got / f"{name}.h5", local_run / "results" / "features" / f"{name}.h5")


def test_bucket_second_run_plans_nothing_then_a_replaced_object_reruns_its_video_only(
    in_bucket, s3, sheet, tmp_path
):
    wd, relative, keys = in_bucket
    env, args = s3.env(), storage_args(BUCKET, "run")
    assert planned_jobs(wd, *args, *S3_TARGETS, env=env) == {}
    vid = relative["video_id"].iloc[6]
    replace_object(s3, sheet, keys[vid], vid)
    jobs = planned_jobs(wd, *args, *S3_TARGETS, env=env)
    assert jobs == {"probe": 1, "extract_yamnet": 1, "store": 1, "failures": 1}, jobs
    for key in s3.keys(BUCKET, "run/logs/"):  # count this run's batch jobs only
        s3.client().delete_object(Bucket=BUCKET, Key=key)
    snakemake(wd, *args, *S3_TARGETS, env=env)
    logs = fetch(s3, "run/", tmp_path / "run")
    assert extract_counts(logs, "yamnet") == {"computed": 1, "reused": 3, "errors": 0}
    assert extract_counts(logs, "text") == {"computed": 0, "reused": 0, "errors": 0}
    assert planned_jobs(wd, *args, *S3_TARGETS, env=env) == {}


def test_bucket_absent_object_stops_the_plan_and_absolute_paths_are_refused(
    in_bucket, s3, tmp_path
):
    _, relative, keys = in_bucket
    for key in keys.values():  # the same media under a prefix of its own
        s3.client().copy_object(
            Bucket=BUCKET, Key=f"bad/{key.removeprefix('run/')}",
            CopySource={"Bucket": BUCKET, "Key": key},
        )  # fmt: skip
    env, args = s3.env(), storage_args(BUCKET, "bad")
    bad = relative.copy()
    bad.loc[0, "video"] = "media/not_there.mp4"
    bad.loc[3, "video"] = "/data/local.mp4"
    wd = make_project(tmp_path / "bad", bad, S3_EXTRACTORS, FEATURE_SETS, probe_batch=4)
    proc = snakemake(wd, "--dry-run", *args, *S3_TARGETS, env=env, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in text
    assert "2 problem(s)" in text
    assert "row 1 (line 2), column video: file does not exist: media/not_there.mp4" in text
    assert "row 4 (line 5), column video: /data/local.mp4 is outside the storage prefix" in text

    set_config(wd, missing_media="skip")
    bad.loc[3, "video"] = relative.loc[3, "video"]
    bad.to_csv(wd / "config" / "videos.tsv", sep="\t", index=False)
    proc = snakemake(wd, "--dry-run", *args, *S3_TARGETS, env=env)
    text = proc.stdout + proc.stderr
    assert "1 of 8 row(s) have an absent media file" in text
    assert f"e.g. {bad.loc[0, 'video_id']}" in text
    jobs = planned_jobs(wd, *args, *S3_TARGETS, env=env)
    assert jobs.get("probe") == 2 and jobs.get("extract_yamnet") == 2, jobs
