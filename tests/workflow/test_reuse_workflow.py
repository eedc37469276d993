"""Per-video reuse through the real workflow: after an edit, the model runs for exactly the
videos concerned, and the stores equal a fresh run's."""

from __future__ import annotations

import copy
import shutil

import pandas as pd
import pytest

from tests.workflow_project import (
    SMALL_EXTRACTORS,
    assert_same_store,
    extract_counts,
    make_project,
    small_sheet,
    snakemake,
)

pytestmark = pytest.mark.slow

EXTRACTORS = tuple(SMALL_EXTRACTORS)


def four_per_batch() -> dict:
    ex = copy.deepcopy(SMALL_EXTRACTORS)
    for spec in ex.values():
        spec["batch"] = 4  # 10 videos: 3 batches, so an insertion shifts the later ones
    return ex


def run_counting(wd) -> dict[str, dict[str, int]]:
    shutil.rmtree(wd / "logs", ignore_errors=True)  # count only this run's batch jobs
    snakemake(wd)
    return {name: extract_counts(wd, name) for name in EXTRACTORS}


def write_sheet(wd, df):
    df.to_csv(wd / "config" / "videos.tsv", sep="\t", index=False)


@pytest.fixture(scope="module")
def incremental(tmp_path_factory):
    sheet = small_sheet()
    wd = make_project(tmp_path_factory.mktemp("reuse"), sheet, four_per_batch())
    first = run_counting(wd)
    assert first["effnet"]["computed"] == len(sheet) - 1  # the truncated file fails its probe
    steps = {}

    edited = sheet.copy()
    edited.loc[5, "description"] += " Seen from the left."
    write_sheet(wd, edited)
    steps["edit"] = run_counting(wd)

    new = edited.iloc[[0]].assign(video_id="inserted_video")
    inserted = pd.concat([edited.iloc[:2], new, edited.iloc[2:]], ignore_index=True)
    write_sheet(wd, inserted)
    steps["insert"] = run_counting(wd)

    appended = pd.concat([inserted, edited.iloc[[1]].assign(video_id="appended_video")])
    write_sheet(wd, appended)
    steps["append"] = run_counting(wd)
    return wd, appended, steps


def test_editing_one_description_computes_only_that_videos_text(incremental):
    _, _, steps = incremental
    assert steps["edit"]["sbert_desc"]["computed"] == 1
    assert steps["edit"]["sbert_desc"]["reused"] == 3  # the rest of its batch of 4
    for name in ("effnet", "yamnet"):  # no media batch reran at all
        assert steps["edit"][name] == {"computed": 0, "reused": 0, "errors": 0}, name


@pytest.mark.parametrize("step", ["insert", "append"])
def test_a_new_video_is_the_only_one_computed(incremental, step):
    _, _, steps = incremental
    for name in EXTRACTORS:
        assert steps[step][name]["computed"] == 1, (step, name, steps[step][name])
    # inserting in the middle shifts the later batches: they rerun, reusing every video
    if step == "insert":
        assert steps[step]["effnet"]["reused"] >= 4


def test_incremental_stores_equal_a_fresh_run(incremental, tmp_path):
    wd, final_sheet, _ = incremental
    fresh = make_project(tmp_path / "fresh", final_sheet, four_per_batch())
    snakemake(fresh)
    for name in EXTRACTORS:
        a = wd / "results" / "features" / f"{name}.h5"
        b = fresh / "results" / "features" / f"{name}.h5"
        assert_same_store(a, b, exact=True)


def test_a_video_replaced_in_place_with_its_mtime_kept_reruns_its_jobs(tmp_path):
    """`cp -p` / `rsync -t` keep the mtime; the probe's params see the new size."""
    import os

    from tests.workflow_project import planned_jobs

    sheet = small_sheet(per_label=1, extra_ids=())
    clip = tmp_path / "clip.mp4"
    shutil.copy(sheet.loc[0, "video"], clip)
    sheet = sheet.iloc[[0]].assign(video=str(clip), ad_audio="")
    wd = make_project(tmp_path / "wd", sheet, {"yamnet": SMALL_EXTRACTORS["yamnet"]},
                      feature_sets=("yamnet:mean",))  # fmt: skip
    snakemake(wd, "results/features/yamnet.h5")
    assert planned_jobs(wd, "results/features/yamnet.h5") == {}
    st = clip.stat()
    shutil.copyfile(small_sheet(per_label=1, extra_ids=()).loc[1, "video"], clip)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))
    jobs = planned_jobs(wd, "results/features/yamnet.h5")
    assert jobs.get("probe") == 1 and jobs.get("extract_yamnet") == 1, jobs
