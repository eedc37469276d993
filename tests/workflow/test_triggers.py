"""Rerun triggers that mean exactly what they say (issue 23), through the real workflow: code
hashes without plumbing, params without resources, labels without descriptions, package versions
in the reuse key, a cache that --forcerun overrules and that heals itself, disjoint shards.

One small real project (module fixture, a private copy of the workflow so that its code can be
edited); most tests read dry-run job lists, the cache tests run the extractors they need.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow_project import (
    BIN,
    SMALL_EXTRACTORS,
    assert_same_store,
    extract_counts,
    make_project,
    planned_jobs,
    small_sheet,
    snakemake,
)

pytestmark = pytest.mark.slow


def batched() -> dict:
    ex = copy.deepcopy(SMALL_EXTRACTORS)
    for spec in ex.values():
        spec["batch"] = 4  # 10 videos: 3 batches per extractor; probe batches of 3 (below)
    return ex


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    wd = make_project(
        tmp_path_factory.mktemp("triggers"),
        small_sheet(),
        batched(),
        copy_workflow=True,
        probe_batch=3,
    )
    snakemake(wd)
    return wd


@contextmanager
def edited(path: Path, transform):
    original = path.read_text()
    path.write_text(transform(original))
    try:
        yield
    finally:
        path.write_text(original)


def config_edit(change):
    def transform(text):
        c = yaml.safe_load(text)
        change(c)
        return yaml.safe_dump(c, sort_keys=False)

    return transform


def per_video(jobs: dict) -> dict:
    return {k: v for k, v in jobs.items() if k.startswith("extract_") or k == "probe"}


@pytest.mark.parametrize(
    "module",
    [
        "plumbing/progress.py",
        "plumbing/atomic.py",
        "store/reuse.py",
        "plumbing/limits.py",
        "plumbing/threads.py",
    ],
)
def test_editing_plumbing_reruns_no_extraction(project, module):
    path = project / "wf" / "src" / "trimodal" / module
    with edited(path, lambda t: t + "\n# an edit\n"):
        jobs = planned_jobs(project)
    assert per_video(jobs) == {} and "store" not in jobs and "classify" not in jobs, jobs


def test_editing_the_probe_reruns_the_probes(project):
    path = project / "wf" / "src" / "trimodal" / "media" / "probe.py"
    with edited(path, lambda t: t + "\n# an edit\n"):
        jobs = planned_jobs(project)
    assert jobs.get("probe") == 4, jobs  # 10 videos in batches of 3


def test_raising_resources_reruns_nothing(project):
    def more(c):
        c["extractors"]["yamnet"]["resources"] = {"mem_mb": 12000, "video_timeout_s": 99}

    with edited(project / "config" / "config.yaml", config_edit(more)):
        assert planned_jobs(project) == {}


def test_a_description_edit_reruns_no_classifier_of_a_label_set_that_does_not_read_it(project):
    def edit(text):
        df = pd.read_csv(pd.io.common.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
        df.loc[0, "description"] += " Seen from the left."
        return df.to_csv(sep="\t", index=False)

    with edited(project / "config" / "videos.tsv", edit):
        jobs = planned_jobs(project)
    assert per_video(jobs) == {"extract_sbert_desc": 1}, jobs
    assert "labels" not in jobs  # youtube reads the label column only
    assert jobs["classify"] == 1  # the text features changed; yamnet/effnet's did not


def test_an_inference_batch_size_reruns_nothing(project):
    """SBERT's batch_size is a run-time setting (its embeddings are bit-identical for any,
    tests/workflow/test_plan.py): like threads, no param, no store spec, no reuse key (issue 36)."""

    def smaller(c):
        c["extractors"]["sbert_desc"]["params"]["batch_size"] = 3

    with edited(project / "config" / "config.yaml", config_edit(smaller)):
        assert planned_jobs(project) == {}


def test_a_span_edit_reruns_no_text_extractor(project):
    """A segment's span is read by the media extractors (and the probe) only: its text
    features, their store and classifiers are not planned (issue 36)."""

    def edit(text):
        df = pd.read_csv(pd.io.common.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
        df["start"], df["end"] = "", ""
        df.loc[0, "start"], df.loc[0, "end"] = "0", "2"
        return df.to_csv(sep="\t", index=False)

    with edited(project / "config" / "videos.tsv", edit):
        jobs = planned_jobs(project)
    assert per_video(jobs) == {"probe": 1, "extract_effnet": 1, "extract_yamnet": 1}, jobs
    assert jobs["store"] == 2  # effnet and yamnet; not sbert_desc


def test_forcerun_recomputes_every_video_of_that_extractor(project):
    shutil.rmtree(project / "logs", ignore_errors=True)
    snakemake(project, "--forcerun", "extract_yamnet")
    counts = extract_counts(project, "yamnet")
    assert counts["reused"] == 0 and counts["computed"] + counts["errors"] == 10, counts


def test_a_truncated_cache_entry_is_recomputed_with_a_warning_naming_it(project):
    entries = sorted((project / "results" / "cache" / "yamnet").rglob("*.h5"))
    victim = entries[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    shutil.rmtree(project / "logs", ignore_errors=True)
    batches = sorted((project / "results" / "extract" / "yamnet" / "batches").iterdir())
    for batch in batches:
        shutil.rmtree(batch)  # every batch reruns: the one holding the victim recomputes it
    snakemake(project, *(str(b.relative_to(project)) for b in batches))
    counts = extract_counts(project, "yamnet")
    assert counts["computed"] == 1, counts
    logs = "".join(p.read_text() for p in (project / "logs" / "extract" / "yamnet").rglob("*.log"))
    # the cache folder is relative to the project: the warning names the entry that way
    assert f"{victim.relative_to(project)} discarded" in logs and "recomputing" in logs


def fake_version(tmp: Path, dist: str, version: str) -> dict:
    """An environment in which importlib.metadata reports `dist` at `version` (a dist-info
    folder ahead on the path; the module itself is still the installed one)."""
    info = tmp / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(dist + "\n")
    return {"PYTHONPATH": str(tmp)}  # put before the workflow's src by snakemake()


def test_a_package_upgrade_recomputes_that_extractors_videos_only(project):
    env = fake_version(project / "fakeenv", "onnxruntime", "99.0.0")
    jobs = planned_jobs(project, env=env)
    assert per_video(jobs) == {"extract_yamnet": 3}, jobs  # yamnet runs on onnxruntime
    shutil.rmtree(project / "logs", ignore_errors=True)
    snakemake(project, env=env)
    counts = extract_counts(project, "yamnet")
    assert counts["reused"] == 0 and counts["computed"] >= 8, counts
    prov = json.loads(_attrs(project / "results" / "features" / "yamnet.h5")["provenance"])
    assert prov["packages"]["onnxruntime"] == "99.0.0"  # recorded by the extract jobs
    assert "torch" not in prov["packages"]  # yamnet imports no torch
    # the documented switch: results kept across versions, and the report says so
    with edited(
        project / "config" / "config.yaml",
        config_edit(lambda c: c.setdefault("cache", {}).update(across_versions=True)),
    ):
        shutil.rmtree(project / "logs", ignore_errors=True)
        snakemake(project)  # back to the installed version: nothing recomputed
        assert extract_counts(project, "yamnet")["computed"] == 0
        prov = json.loads(_attrs(project / "results" / "features" / "yamnet.h5")["provenance"])
        assert prov["across_versions"] is True
        summary = (project / "results" / "report" / "youtube" / "summary.md").read_text()
        assert "kept across package versions" in summary
    snakemake(project)  # restore: the installed version's entries are still in the cache


def _attrs(path: Path) -> dict:
    import h5py

    with h5py.File(path) as h5:
        return dict(h5.attrs)


def _dry_outputs(wd: Path, *args: str) -> set[str]:
    proc = snakemake(wd, "--dry-run", *args)
    return set(re.findall(r"^\s*output: (.+)$", proc.stdout, flags=re.M))


def test_concurrent_shards_are_disjoint_and_equal_an_unsharded_run(project, tmp_path):
    sheet = pd.read_csv(project / "config" / "videos.tsv", sep="\t", dtype=str,
                        keep_default_na=False)  # fmt: skip
    wd = make_project(tmp_path / "sharded", sheet, batched(), probe_batch=3)
    plans = [_dry_outputs(wd, "--config", f"shard={i}/2") for i in (1, 2)]
    assert plans[0] and plans[1] and not plans[0] & plans[1]
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    root = Path(__file__).resolve().parents[2]
    base = [str(BIN / "snakemake"), "--snakefile", str(root / "Snakefile"), "--directory",
            str(wd), "--cores", "1", "--profile", str(root / "profiles" / "default")]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*base, "--config", f"shard={i}/2"],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for i in (1, 2)
    ]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
        assert "LockException" not in out and "cannot be locked" not in out
    final = planned_jobs(wd, "--config", "shard=all/2")
    assert per_video(final) == {}, final
    snakemake(wd, "--config", "shard=all/2")
    for name in SMALL_EXTRACTORS:
        assert_same_store(
            project / "results" / "features" / f"{name}.h5",
            wd / "results" / "features" / f"{name}.h5",
        )
