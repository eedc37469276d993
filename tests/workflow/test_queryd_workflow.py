"""End to end: a QuerYD download folder (tests/queryd_fixture.py) imported and run through the
workflow with `missing_media: skip`, segment rows and the official-split protocol.

Relies on issue 22's contract (CONTRACT_22.md) for the workflow side: the sheet columns
`language`, `split`, `start`, `end`, `ad_map`; `missing_media: skip` (error records of stage
`missing` in results/failures.tsv, text features still computed, the dry run says how many rows
were skipped); the label-set option `language: {column: language, keep: [en]}`; `classify.cv:
{protocol: split}` (one "fold": fit on train, score on test; the report names the protocol);
extractors reading only a segment row's [start, end) with times relative to its start.

One project keeps it small: the video rows of the import, the segment rows of a `--segments`
import (their labels blanked so the label set stays the videos'), and one segment cut out with
ffmpeg as a whole-video row to compare features with: FFV1 video (the decoded pixels kept) and
float PCM audio resampled to 16 kHz before the cut (output -ss trims after the filters), as the
extractors resample the whole stream from its start.
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from tests import queryd_fixture as qf
from tests.workflow_project import SMALL_EXTRACTORS, make_project, snakemake
from trimodal.corpus import queryd
from trimodal.learn.results import CVResult
from trimodal.store import features as store

pytestmark = pytest.mark.slow

N_PLAIN = 8  # plain videos: splits train, train, val, test, ...; labels alternate
SEGMENT = f"video-{qf.FULL}__{0x5F01:024x}"  # the extended clip's segment: 4.000-6.341 s


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("queryd_wf")
    qf.build_queryd(root / "download", n_plain=N_PLAIN, bad_records=True)
    videos, report = queryd.import_queryd(
        root / "download", root / "import", labels=root / "download" / "labels.tsv"
    )
    segments, seg_report = queryd.import_queryd(root / "download", root / "seg", segments=True)
    segments = segments.assign(label="")  # their splits kept: retrieval ranks them
    seg = segments.set_index("video_id").loc[SEGMENT]
    cut = root / "cut.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", seg["video"], "-ss", seg["start"], "-to",
         seg["end"], "-c:v", "ffv1", "-af", "aresample=16000", "-c:a", "pcm_f32le", str(cut)],
        check=True,
    )  # fmt: skip
    ref = pd.DataFrame([{**{c: "" for c in queryd.SHEET_COLUMNS},
                         "video_id": "cut_reference", "video": str(cut)}])  # fmt: skip
    sheet = pd.concat([videos, segments, ref], ignore_index=True)
    wd = make_project(
        root / "project",
        sheet,
        SMALL_EXTRACTORS,
        feature_sets=("sbert_desc:mean", "yamnet:mean", "effnet:mean"),
    )
    cfg_path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["missing_media"] = "skip"
    cfg["labels"]["sets"] = {
        "youtube": {"from": "label", "min_count": 2,
                    "language": {"column": "language", "keep": ["en"]}}
    }  # fmt: skip
    cfg["classify"]["cv"] = {"protocol": "split", "seed": 0}
    cfg["fusion"] = {
        "sets": {"avt": {"feature_sets": ["yamnet:mean", "effnet:mean", "sbert_desc:mean"],
                         "classifier": "ovr_linear_svc",
                         "kinds": ["late-mean", "late-vote", "late-stack"]}}
    }  # fmt: skip
    cfg["crossmodal"] = {  # no label set named: the label agreement takes the first
        "protocol": "split", "seed": 0, "methods": ["ridge"], "rankings": ["cosine", "select"],
        "pairs": [{"source": "sbert_desc:mean", "target": "effnet:mean"},
                  {"source": "effnet:mean", "target": "sbert_desc:mean"}],
    }  # fmt: skip
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    dry = snakemake(wd, "--dry-run")
    snakemake(wd, timeout=1800)
    return wd, videos, report, dry, segments


def test_dry_run_says_how_many_rows_are_skipped(run):
    _, videos, report, dry, _ = run
    assert report["counts"]["rows_missing_video"] == 1
    text = dry.stdout + dry.stderr
    assert re.search(r"skip\w*\D{0,60}\b1\b|\b1\b\D{0,60}skip", text, re.I), text[-3000:]


def test_failed_download_is_skipped_in_failures_tsv_and_keeps_its_text(run):
    wd, *_ = run
    failures = pd.read_csv(wd / "results" / "failures.tsv", sep="\t", dtype=str)
    vid = f"video-{qf.FAILED}"
    mine = failures[failures["video_id"] == vid]
    assert set(mine["stage"]) == {"missing"}, mine
    assert {"effnet", "yamnet"} <= set(mine["where"])  # the extractors (and the probe)
    assert "sbert_desc" not in set(mine["where"])
    _, ids = store.load_pooled(wd / "results" / "features" / "sbert_desc.h5", "mean")
    assert vid in set(ids)
    # nothing else is missing
    assert set(failures.loc[failures["stage"] == "missing", "video_id"]) == {vid}


def test_segment_features_equal_those_of_the_span_cut_out_with_ffmpeg(run):
    wd, *_ = run
    for name, atol in (("effnet", 1e-4), ("yamnet", 0.02)):
        path = wd / "results" / "features" / f"{name}.h5"
        a, ta = store.load_windows(path, SEGMENT)
        b, tb = store.load_windows(path, "cut_reference")
        assert a.shape == b.shape, name
        np.testing.assert_allclose(ta, tb, atol=0.05, err_msg=name)  # relative to the span
        np.testing.assert_allclose(a, b, atol=atol, rtol=0, err_msg=name)
    # and not those of the whole video
    whole, _ = store.load_windows(wd / "results" / "features" / "effnet.h5", f"video-{qf.FULL}")
    seg, _ = store.load_windows(wd / "results" / "features" / "effnet.h5", SEGMENT)
    assert len(whole) > len(seg)


def test_split_protocol_scores_the_test_split_only(run):
    wd, videos, *_ = run
    labels = pd.read_csv(wd / "results" / "labels" / "youtube.tsv", sep="\t", dtype=str)
    assert f"video-{qf.FRENCH}" not in set(labels["video_id"])  # language filter
    v = videos.set_index("video_id")
    english = v[(v["label"] != "") & (v["language"] == "en")]
    for fs, missing in (("sbert_desc:mean", set()), ("effnet:mean", {f"video-{qf.FAILED}"})):
        r = CVResult.from_h5(
            wd / "results/classify/youtube" / fs.replace(":", ".") / "ovr_linear_svc.h5"
        )
        assert r.evaluated and r.n_folds == 1, (fs, r.not_evaluated)
        want = set(english.index[english["split"] == "test"]) - missing
        assert set(r.ids) == want, fs
        assert set(np.unique(r.fold)) == {0}
    summary = (wd / "results" / "report" / "youtube" / "summary.md").read_text()
    # the report names the protocol ("splitting" is in every report already)
    pattern = r"protocol[^\n]{0,40}\bsplit\b|\bsplit\b[^\n]{0,20}protocol|official split"
    assert re.search(pattern, summary, re.I), summary[:3000]


def test_imported_sheet_plans_with_todays_workflow(tmp_path):
    """Without the contract's new keys: the imported sheet (failed downloads dropped) passes
    the sheet schema and trimodal.corpus.sheet, extra columns included, and the workflow plans."""
    from tests.workflow_project import planned_jobs

    qf.build_queryd(tmp_path / "download", segments=False)
    videos, _ = queryd.import_queryd(tmp_path / "download", tmp_path / "import", drop_missing=True)
    wd = make_project(tmp_path / "project", videos, SMALL_EXTRACTORS)
    jobs = planned_jobs(wd)
    assert jobs["probe"] == 1 and jobs["extract_effnet"] == 1 and jobs["store"] == 3


# --------------------------------------------------------------------------- issue 33


def _folds(wd, pair="sbert_desc.mean__effnet.mean"):
    path = wd / "results" / "crossmodal" / f"{pair}.folds.tsv"
    return pd.read_csv(path, sep="\t", dtype={"video_id": str}).set_index("video_id")["fold"]


def test_unlabelled_test_videos_are_ranked_beside_the_published_figure(run):
    wd, videos, *_ = run
    folds = _folds(wd)
    bad = f"video-{qf.BADCLIP}"  # no category, split test
    assert videos.set_index("video_id").loc[bad, "label"] == ""
    assert folds[bad] == 0  # among the test candidates
    labels = pd.read_csv(wd / "results" / "labels" / "youtube.tsv", sep="\t", dtype=str)
    unlabelled_test = set(folds.index[folds == 0]) - set(labels["video_id"])
    assert bad in unlabelled_test and len(unlabelled_test) >= 3  # segments too
    assert f"video-{qf.FAILED}" not in folds.index  # no video store: not a candidate
    table = pd.read_csv(wd / "results" / "crossmodal" / "sbert_desc.mean__effnet.mean.tsv",
                        sep="\t")  # fmt: skip
    assert set(table["ranking"]) == {"cosine", "select"} and (table["protocol"] == "split").all()
    assert (table["n_test"] == int((folds == 0).sum())).all()
    assert table["mean_rank"].notna().all()
    # the label set is read for the label agreement (its chance level needs its labels)
    assert table["chance_label_agreement"].notna().all()
    assert table.set_index("ranking").loc["select", "selected"].count("ranking=") == 1
    md = (wd / "results" / "report" / "crossmodal" / "crossmodal.md").read_text()
    assert "Official split beside the published figure" in md and "13.9" in md
    assert "text → video" in md and "video → text" in md


def test_late_mean_and_vote_have_rows_under_the_split(run):
    wd, videos, *_ = run
    base = CVResult.from_h5(wd / "results/classify/youtube" / "effnet.mean" / "ovr_linear_svc.h5")
    for kind in ("late-mean", "late-vote"):
        r = CVResult.from_h5(wd / "results" / "fusion" / "youtube" / kind / "avt.h5")
        assert r.evaluated and r.protocol == "split", (kind, r.not_evaluated)
        assert set(r.ids) == set(base.ids) and set(r.fold) == {0}, kind
        assert np.isfinite(r.summary()["balanced_accuracy_mean"])
    stack = CVResult.from_h5(wd / "results" / "fusion" / "youtube" / "late-stack" / "avt.h5")
    assert stack.protocol == "split"  # refitted on the train videos, or not evaluated with
    assert stack.evaluated or stack.not_evaluated.startswith("not evaluated")  # its reason
    summary = (wd / "results" / "report" / "youtube" / "summary.md").read_text()
    assert "late-mean" in summary and "late-vote" in summary


def test_segments_carry_their_splits_into_retrieval(run):
    wd, _, _, _, segments = run
    assert (segments["split"] != "").all()
    dash = segments.loc[segments["group"] == qf.DASH, "video_id"]
    full = segments.loc[segments["group"] == qf.FULL].set_index("video_id")["split"]
    folds = _folds(wd)
    assert len(dash) and (folds.reindex(dash) == 0).all()  # test segments ranked
    codes = {"train": -1, "val": -2, "test": 0}
    for vid, split in full.items():
        assert folds[vid] == codes[split], vid


def test_a_malformed_clip_record_is_a_problem_and_the_import_goes_on(run):
    wd, videos, report, *_ = run
    mine = [p["reason"] for p in report["problems"] if p["id"] == qf.BADCLIP]
    assert sum("clip is not an object" in p for p in mine) == 2, mine
    row = videos.set_index("video_id").loc[f"video-{qf.BADCLIP}"]
    assert row["ad_audio"]  # its good clip made the AD track
    _, ids = store.load_pooled(wd / "results" / "features" / "effnet.h5", "mean")
    assert f"video-{qf.BADCLIP}" in set(ids)
