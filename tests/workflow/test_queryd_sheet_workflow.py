"""The workflow on a sheet as a QuerYD import writes it: failed downloads kept with
`missing_media: skip`, segment rows (start/end), a language column and a label set that keeps
English only (issue 22, workflow side)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow_project import (
    ROOT,
    demo_sheet,
    extract_counts,
    make_project,
    planned_jobs,
    snakemake,
)

EXTRACTORS = {
    "effnet": {
        "kind": "frame_embedding",
        "model": "efficientnet-lite0",
        "params": {"fps": 1.0, "max_frames": 4, "batch_size": 4, "image_size": 224},
    },
    "yamnet": {
        "kind": "yamnet",
        "model": "packaged:yamnet-int8-onnx",
        "params": {"source": "soundtrack", "top_k": 3},
    },
    "yamnet_ad": {
        "kind": "yamnet",
        "model": "packaged:yamnet-int8-onnx",
        "params": {"source": "ad_audio", "top_k": 3},
    },
    "text": {"kind": "text_raw", "model": None, "params": {"sources": ["description"]}},
}


def queryd_like_sheet(tmp_path: Path) -> pd.DataFrame:
    """Six labelled clips, two of them failed downloads (an absent video, an absent AD
    track), two segment rows of one clip (one inside it, one past its end), one in French."""
    df = demo_sheet()
    df = df[df["label"] != ""].sort_values("video_id").groupby("label").head(2).head(6)
    df = df.reset_index(drop=True)
    for col in ("video", "ad_audio"):
        df[col] = [str((ROOT / p).resolve()) if p else "" for p in df[col]]
    df["language"] = ["en", "en", "en", "fr", "en", "en"]
    df["start"] = ""
    df["end"] = ""
    df["group"] = df["video_id"]
    df.loc[1, "video"] = str(tmp_path / "video-failed.mp4")  # the download failed
    df.loc[2, "ad_audio"] = str(tmp_path / "audio-missing.wav")
    seg = df.loc[[0, 0]].copy()
    seg["video_id"] = [f"{df.loc[0, 'video_id']}__s1", f"{df.loc[0, 'video_id']}__s2"]
    seg["start"], seg["end"] = ["1.0", "30.0"], ["3.0", "35.0"]
    seg["ad_audio"] = ""
    return pd.concat([df, seg], ignore_index=True)


def project(tmp_path: Path, missing_media: str | None) -> Path:
    work = make_project(
        tmp_path / "wd",
        queryd_like_sheet(tmp_path),
        extractors=EXTRACTORS,
        feature_sets=("text:text", "yamnet:mean"),
    )
    cfg_path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    if missing_media:
        cfg["missing_media"] = missing_media
    cfg["labels"]["sets"]["en"] = {
        "from": "label",
        "min_count": 1,
        "language": {"column": "language", "keep": ["en"]},
    }
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return work


def test_absent_files_are_a_sheet_error_by_default(tmp_path):
    work = project(tmp_path, None)
    proc = snakemake(work, "--dry-run", check=False)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "column video: file does not exist" in err and "video-failed.mp4" in err
    assert "column ad_audio: file does not exist" in err and "Traceback" not in err


def test_dry_run_with_skip_says_how_many_rows_are_skipped(tmp_path):
    work = project(tmp_path, "skip")
    proc = snakemake(work, "--dry-run")
    assert "missing_media: skip: 2 of 8 row(s) have an absent media file" in proc.stderr
    jobs = planned_jobs(work)
    assert jobs["probe"] >= 1 and jobs["extract_effnet"] >= 1 and jobs["failures"] == 1


@pytest.mark.slow
def test_skipped_rows_segments_and_language_through_the_workflow(tmp_path):
    work = project(tmp_path, "skip")
    sheet = pd.read_csv(work / "config" / "videos.tsv", sep="\t", dtype=str, na_filter=False)
    ids = list(sheet["video_id"])
    snakemake(work, "results/failures.tsv", "results/labels/en.tsv")

    failures = pd.read_csv(work / "results" / "failures.tsv", sep="\t")
    by = {(r.video_id, r.stage, r.where) for r in failures.itertuples()}
    failed, no_ad, seg_in, seg_out = ids[1], ids[2], ids[6], ids[7]
    # the failed download: probe and every media extractor of its video, stage missing
    for where in ("video", "effnet", "yamnet"):
        assert (failed, "missing", where) in by, where
    assert (no_ad, "missing", "ad_audio") in by and (no_ad, "missing", "yamnet_ad") in by
    # the segment past the clip's end: the probe says so, every media extractor too
    for where in ("video", "effnet", "yamnet"):
        assert (seg_out, "span", where) in by, where
    assert not {f for f in by if f[0] == seg_in}  # the segment inside its clip: no failure
    assert "text" not in set(failures["where"])  # text features of every row were computed

    from trimodal.store.features import load_text, load_windows

    texts = load_text(work / "results/features/text.h5")
    assert set(texts.index) == set(ids) and (texts != "").all()
    windows = load_windows(work / "results/features/effnet.h5", seg_in)
    whole = load_windows(work / "results/features/effnet.h5", ids[0])
    assert len(windows[1]) == 2 and len(whole[1]) == 4  # 2 s of the 4 s clip at 1 fps
    assert windows[1][0, 0] == 0.0  # times from the span's start

    labels = pd.read_csv(work / "results" / "labels" / "en.tsv", sep="\t", dtype=str)
    assert ids[3] not in set(labels["video_id"])  # the French row
    assert set(labels["video_id"]) == set(ids) - {ids[3]}

    # editing one span recomputes that row only (the span is part of the reuse key)
    sheet.loc[6, "end"] = "2.5"
    sheet.to_csv(work / "config" / "videos.tsv", sep="\t", index=False)
    assert extract_counts(work, "yamnet")["computed"] == 6  # rows with a readable soundtrack
    snakemake(work, "results/failures.tsv")
    rerun = extract_counts(work, "yamnet")  # the batch log of the rerun
    assert rerun["computed"] == 1 and rerun["reused"] == 5, rerun


def test_split_protocol_needs_a_split_column_with_train_and_test_rows(tmp_path):
    work = project(tmp_path, "skip")
    cfg_path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["classify"]["cv"] = {"protocol": "split"}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(work, "--dry-run", check=False)
    err = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in err
    assert "classify.cv.protocol: split needs a split column (train/val/test)" in err

    sheet_path = work / "config" / "videos.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, na_filter=False)
    sheet["split"] = "train"
    sheet.to_csv(sheet_path, sep="\t", index=False)
    proc = snakemake(work, "--dry-run", check=False)
    assert "it has no test rows (train: 8)" in proc.stdout + proc.stderr

    sheet["split"] = ["train", "train", "val", "train", "test", "test", "train", "test"]
    sheet.to_csv(sheet_path, sep="\t", index=False)
    assert planned_jobs(work)["classify"] >= 1
