"""The workflow end to end on a small real corpus: job plan, bad inputs, partial reruns, shards.

One real run (module fixture) of the repository's Snakefile on a few demo clips plus a corrupt
file and a video without audio; the other tests inspect it and dry-run after each kind of change.
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import h5py
import pandas as pd
import pytest
import yaml

from tests.workflow_project import (
    assert_same_store,
    make_project,
    per_video,
    planned_jobs,
    small_sheet,
    snakemake,
)
from trimodal.plumbing.batching import batch_size
from trimodal.store import features as store

pytestmark = pytest.mark.slow

EXTRACTORS = ("effnet", "yamnet", "sbert_desc")


@contextmanager
def edited(path: Path, transform):
    original = path.read_text()
    path.write_text(transform(original))
    try:
        yield
    finally:
        path.write_text(original)


def n_videos(wd: Path) -> int:
    return len(pd.read_csv(wd / "config" / "videos.tsv", sep="\t"))


def test_dry_run_lists_one_batch_job_per_extractor_by_default(tmp_path):
    wd = make_project(tmp_path, small_sheet())
    jobs = planned_jobs(wd)
    # 10 videos: one auto-sized batch (trimodal.plumbing.batching) per extractor and for the probe
    assert batch_size("auto", n_videos(wd)) == n_videos(wd)
    for name in EXTRACTORS:
        assert jobs[f"extract_{name}"] == 1
    assert jobs["probe"] == 1 and jobs["store"] == len(EXTRACTORS)


def test_batch_1_gives_one_job_per_extractor_and_video(tmp_path):
    wd = make_project(tmp_path, small_sheet(), per_video(), probe_batch=1)
    jobs = planned_jobs(wd)
    n = n_videos(wd)
    for name in EXTRACTORS:
        assert jobs[f"extract_{name}"] == n
    assert jobs["probe"] == n and jobs["store"] == len(EXTRACTORS)


def test_bad_inputs_end_as_error_rows_and_the_rest_is_processed(project):
    sheet = pd.read_csv(
        project / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False
    )
    good = set(sheet["video_id"]) - {"bad_truncated", "bad_noaudio"}
    failures = pd.read_csv(project / "results" / "failures.tsv", sep="\t")
    assert set(failures["video_id"]) <= {"bad_truncated", "bad_noaudio"}
    # the corrupt file fails its probe, so every media extractor records it
    for name in ("effnet", "yamnet"):
        f = store.load_failures(project / "results" / "features" / f"{name}.h5")
        assert "bad_truncated" in set(f["video_id"]), name
    # the video without audio: frames work, audio gives an error record naming the reason
    yam = store.load_failures(project / "results" / "features" / "yamnet.h5")
    reason = yam.set_index("video_id").loc["bad_noaudio", "reason"]
    assert "audio" in reason.lower()
    _, effnet_ids = store.load_pooled(project / "results" / "features" / "effnet.h5", "mean")
    assert "bad_noaudio" in set(effnet_ids) and good <= set(effnet_ids)
    _, yam_ids = store.load_pooled(project / "results" / "features" / "yamnet.h5", "mean")
    assert good <= set(yam_ids)


def test_stores_carry_model_and_params(project):
    attrs = store.store_attrs(project / "results" / "features" / "yamnet.h5")
    assert attrs["model"] == "packaged:yamnet-int8-onnx" and attrs["params"]["top_k"] == 5
    with h5py.File(
        project / "results/extract/yamnet/batches/b00000" / f"{small_sheet()['video_id'][0]}.h5"
    ) as h5:
        assert h5.attrs["model_fingerprint"]
    prov = json.loads(attrs["provenance"])
    assert prov["model"] == "packaged:yamnet-int8-onnx" and prov["weights_sha256"]
    assert prov["params"]["top_k"] == 5 and prov["code"] and "onnxruntime" in prov["packages"]


def test_nothing_left_to_do_after_a_run(project):
    assert planned_jobs(project) == {}


def downstream_of(extractor: str, n_batches: int = 1) -> dict[str, int]:
    return {
        f"extract_{extractor}": n_batches,
        "store": 1,
        "failures": 1,
        "classify": 1,
        "report": 1,
        "explorer": 1,
        "all": 1,
    }


def test_changing_one_extractors_params_reruns_only_it(project):
    cfg = project / "config" / "config.yaml"

    def bump(text):
        c = yaml.safe_load(text)
        c["extractors"]["yamnet"]["params"]["top_k"] = 3
        return yaml.safe_dump(c, sort_keys=False)

    with edited(cfg, bump):
        assert planned_jobs(project) == downstream_of("yamnet")


def test_changing_one_extractors_model_reruns_only_it(project):
    cfg = project / "config" / "config.yaml"

    def swap(text):
        c = yaml.safe_load(text)
        c["extractors"]["sbert_desc"]["model"] = "sentence-transformers/all-mpnet-base-v2"
        return yaml.safe_dump(c, sort_keys=False)

    with edited(cfg, swap):
        assert planned_jobs(project) == downstream_of("sbert_desc")


def test_changing_one_extractors_code_reruns_only_it(project):
    module = project / "wf" / "src" / "trimodal" / "extractors" / "yamnet.py"
    with edited(module, lambda t: t + "\n# an edit\n"):
        assert planned_jobs(project) == downstream_of("yamnet")


def test_editing_frame_decoding_reruns_the_video_extractors_only(project):
    """The code hash covers the modules an extractor imports, not only its own file."""
    module = project / "wf" / "src" / "trimodal" / "media" / "frames.py"
    with edited(module, lambda t: t + "\n# an edit\n"):
        jobs = planned_jobs(project)
    extract = {k: v for k, v in jobs.items() if k.startswith("extract_") or k == "probe"}
    assert extract == {"extract_effnet": 1}, jobs


def test_editing_the_audio_decoder_reruns_the_audio_extractor_only(project):
    module = project / "wf" / "src" / "trimodal" / "media" / "audio.py"
    with edited(module, lambda t: t + "\n# an edit\n"):
        jobs = planned_jobs(project)
    extract = {k: v for k, v in jobs.items() if k.startswith("extract_") or k == "probe"}
    assert extract == {"extract_yamnet": 1}, jobs


def test_changing_a_description_reruns_only_that_videos_text_job(project):
    sheet = project / "config" / "videos.tsv"

    def edit(text):
        df = pd.read_csv(pd.io.common.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
        df.loc[0, "description"] = df.loc[0, "description"] + " Seen from the left."
        return df.to_csv(sep="\t", index=False)

    with edited(sheet, edit):
        jobs = planned_jobs(project)
    # the label set reads the label column only: it is not rebuilt, and only the text
    # features' classification reruns; of the per-video work, only the text batch holding it
    per_video = {k: v for k, v in jobs.items() if k.startswith("extract_") or k == "probe"}
    assert per_video == {"extract_sbert_desc": 1}
    assert jobs["store"] == 1 and "labels" not in jobs and jobs["classify"] == 1


def test_shards_then_aggregate_equals_single_run(project, tmp_path):
    wd = make_project(
        tmp_path / "sharded",
        pd.read_csv(project / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False),
    )
    for i in (1, 2, 3):
        snakemake(wd, "--config", f"shard={i}/3")
    assert not (wd / "results" / "features").exists()
    final = planned_jobs(wd, "--config", "shard=all/3")  # the shards' batches
    assert not any(rule.startswith("extract_") or rule == "probe" for rule in final), final
    snakemake(wd, "--config", "shard=all/3")
    for name in EXTRACTORS:
        a, b = (
            project / "results" / "features" / f"{name}.h5",
            wd / "results" / "features" / f"{name}.h5",
        )
        assert_same_store(a, b)
    shutil.rmtree(wd / "results")


def test_adding_a_video_extracts_only_the_new_one(project):
    sheet = project / "config" / "videos.tsv"

    def add(text):
        df = pd.read_csv(pd.io.common.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
        new = df.iloc[[0]].copy()
        new["video_id"] = "added_video"
        return pd.concat([df, new]).to_csv(sep="\t", index=False)

    with edited(sheet, add):
        jobs = planned_jobs(project)
    assert jobs["probe"] == 1
    for name in EXTRACTORS:
        assert jobs[f"extract_{name}"] == 1
    assert jobs["store"] == len(EXTRACTORS)
