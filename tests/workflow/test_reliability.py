"""Reliability: every bad input ends as a result or an error row, kills lose nothing, runs repeat.

Bad inputs are made from a real clip (trimodal.corpus.badinputs). The outcome table of these
tests is written up in docs/reliability.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.results_checks import assert_no_leftovers
from tests.workflow_project import (
    BIN,
    ROOT,
    SMALL_EXTRACTORS,
    assert_same_store,
    make_project,
    small_sheet,
    snakemake,
)
from trimodal.corpus import badinputs
from trimodal.store import features as store

pytestmark = pytest.mark.slow

EXTRACTORS = ("effnet", "yamnet", "sbert_desc")

# what each media case must give, per extractor: "ok" (features) or "error" (error record);
# None = either is acceptable (the damage may or may not reach the sampled frames/windows)
EXPECTED = {
    "truncated": {"effnet": "error", "yamnet": "error"},
    "truncated_end": {"effnet": "ok", "yamnet": "ok"},  # a partial decode: kept, flagged
    "byteflip": {"effnet": None, "yamnet": None},
    "zero_length": {"effnet": "error", "yamnet": "error"},
    "text_as_mp4": {"effnet": "error", "yamnet": "error"},
    "audio_only": {"effnet": "error", "yamnet": "ok"},
    "no_audio": {"effnet": "ok", "yamnet": "error"},
    "vfr": {"effnet": "ok", "yamnet": "ok"},
    "rotated": {"effnet": "ok", "yamnet": "ok"},
    "uhd_4k": {"effnet": "ok", "yamnet": "ok"},
    "surround51": {"effnet": "ok", "yamnet": "ok"},
    "mjpeg": {"effnet": "ok", "yamnet": "ok"},
    "cinepak": {"effnet": "ok", "yamnet": "ok"},
    "long40": {"effnet": "ok", "yamnet": "ok"},
}


@pytest.fixture(scope="module")
def bad_project(tmp_path_factory, mimetype_clips):
    media = tmp_path_factory.mktemp("bad_media")
    made = badinputs.make_all(mimetype_clips / "mp4.mp4", media)
    made["long40"] = badinputs.make_long_video(mimetype_clips / "mp4.mp4", media / "long40.mp4", 40)
    good = small_sheet(per_label=2, extra_ids=())  # 2 per class: the label set is usable
    rows = []
    for case in EXPECTED:
        rows.append(
            {
                "video_id": f"case_{case}",
                "video": str(made[case]),
                "ad_audio": "",
                "description": f"A test clip ({case.replace('_', ' ')}).",
                "label": "",
            }
        )
    rows.append(
        {**rows[-1], "video_id": "case_desc_empty", "video": str(made["vfr"]), "description": ""}
    )
    rows.append({**rows[-1], "video_id": "case_desc_non_utf8", "description": "caf\ufffd au lait"})
    sheet = pd.concat([good, pd.DataFrame(rows)], ignore_index=True)
    wd = make_project(tmp_path_factory.mktemp("bad_project"), sheet)
    # the sheet file itself carries the raw non-UTF-8 byte, as a user's file would
    tsv = wd / "config" / "videos.tsv"
    tsv.write_bytes(tsv.read_bytes().replace("\ufffd".encode(), b"\xe9"))
    proc = snakemake(wd, timeout=1800)
    return wd, proc


def outcome(wd: Path, extractor: str, video_id: str) -> str:
    path = wd / "results" / "features" / f"{extractor}.h5"
    _, ids = store.load_pooled(path, "mean")
    failed = set(store.load_failures(path)["video_id"])
    assert (video_id in set(ids)) != (video_id in failed), f"{video_id} must be in exactly one"
    return "ok" if video_id in set(ids) else "error"


def test_every_bad_media_case_ends_as_result_or_error_row(bad_project):
    wd, proc = bad_project
    assert "Traceback" not in proc.stdout + proc.stderr
    failures = pd.read_csv(wd / "results" / "failures.tsv", sep="\t", keep_default_na=False)
    table = {}
    for case, expected in EXPECTED.items():
        vid = f"case_{case}"
        for extractor, want in expected.items():
            got = outcome(wd, extractor, vid)
            table[(case, extractor)] = got
            if want is not None:
                assert got == want, (case, extractor)
            if got == "error":
                rows = failures[(failures["video_id"] == vid)]
                assert len(rows) and all(rows["reason"].str.len() > 0), vid
    print(pd.Series(table).unstack())


def test_good_videos_survive_the_bad_ones(bad_project):
    wd, _ = bad_project
    good = small_sheet(per_label=2, extra_ids=())["video_id"]
    for extractor in EXTRACTORS:
        for vid in good:
            assert outcome(wd, extractor, vid) == "ok"


def test_descriptions_empty_and_non_utf8(bad_project):
    wd, _ = bad_project
    assert outcome(wd, "sbert_desc", "case_desc_empty") == "error"
    assert outcome(wd, "sbert_desc", "case_desc_non_utf8") == "ok"
    text = store.load_text(wd / "results" / "features" / "sbert_desc.h5")
    assert text["case_desc_non_utf8"].startswith("caf")


def test_long_video_features_are_bounded(bad_project):
    wd, _ = bad_project
    # the batch job that decoded the 40-minute video (batch: auto puts the corpus in one job)
    files = list((wd / "benchmarks" / "extract" / "effnet").rglob("*.tsv"))
    assert files
    peak = max(pd.read_csv(f, sep="\t")["max_rss"].iloc[0] for f in files)
    assert peak < 2000  # MB; a 40-minute video never loads whole


@pytest.mark.parametrize(
    "body, message",
    [
        ("v1\t{v}\t\t\t\nv1\t{v}\t\t\t\n", "row 2 (line 3), column video_id: duplicate id 'v1'"),
        ("my video\t{v}\t\t\t\n", "row 1 (line 2), column video_id: 'my video' is not a valid id"),
        ("a/b\t{v}\t\t\t\n", "row 1 (line 2), column video_id: 'a/b' is not a valid id"),
        ("v1\t/nonexistent/x.mp4\t\t\t\n", "row 1 (line 2), column video: file does not exist"),
    ],
)
def test_broken_sheet_fails_before_any_job_with_row_and_column(
    tmp_path, mimetype_clips, body, message
):
    wd = make_project(tmp_path, small_sheet(per_label=1, extra_ids=()))
    header = "video_id\tvideo\tad_audio\tdescription\tlabel\n"
    (wd / "config" / "videos.tsv").write_text(header + body.format(v=mimetype_clips / "mp4.mp4"))
    proc = snakemake(wd, "--dry-run", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in out
    assert "Traceback" not in out and not (wd / "results").exists()


def test_sheet_with_missing_column_fails_clearly(tmp_path, mimetype_clips):
    wd = make_project(tmp_path, small_sheet(per_label=1, extra_ids=()))
    (wd / "config" / "videos.tsv").write_text(f"video_id\tdescription\nv1\t{mimetype_clips}\n")
    proc = snakemake(wd, "--dry-run", check=False)
    assert proc.returncode != 0 and "missing column(s) ['video']" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- kill and resume


def _start(wd: Path) -> subprocess.Popen:
    cmd = [
        str(BIN / "snakemake"),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(wd),
        "--profile",
        str(ROOT / "profiles" / "default"),
        "--cores",
        "2",
    ]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "YOLO_OFFLINE": "1",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env
    )


def _kill_when(wd: Path, condition, limit_s: float = 600) -> bool:
    """Run the workflow until `condition(wd)` holds, then SIGKILL its whole process group."""
    proc = _start(wd)
    t0 = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - t0 < limit_s:
            if condition(wd, time.monotonic() - t0):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.05)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _n(wd: Path, pattern: str) -> int:
    return len(list(wd.glob(pattern)))


def test_sigkill_at_five_points_then_resume_gives_identical_stores(project, tmp_path):
    wd = make_project(
        tmp_path / "killed",
        pd.read_csv(project / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False),
    )
    delay = float(np.random.default_rng(7).uniform(2, 8))
    points = [
        ("after a random delay", lambda w, t: t > delay),
        # per-video files, inside batch folders by default (`batch: auto`)
        ("after the first extract file", lambda w, t: _n(w, "results/extract/**/*.h5") >= 1),
        ("mid-extraction", lambda w, t: _n(w, "results/extract/**/*.h5") >= 12),
        ("during a store aggregation", lambda w, t: _n(w, "logs/store/*.log") >= 1),
        ("after the first classification", lambda w, t: _n(w, "results/classify/*/*/*.h5") >= 1),
    ]
    killed = []
    for name, cond in points:
        if _kill_when(wd, cond):
            killed.append(name)
        # a SIGKILLed Snakemake leaves its lock: the documented recovery is --unlock
        snakemake(wd, "--unlock")
    assert len(killed) >= 4, killed  # the run may finish before the last trigger
    snakemake(wd)  # Snakemake's normal resume (the profile sets rerun-incomplete)
    for name in EXTRACTORS:
        assert_same_store(
            project / "results/features" / f"{name}.h5", wd / "results/features" / f"{name}.h5"
        )
    # no temporary or partial file anywhere under results/, and every .h5 opens
    assert_no_leftovers(wd / "results")


def test_two_runs_give_identical_stores_and_tables(project, tmp_path):
    wd = make_project(
        tmp_path / "again",
        pd.read_csv(project / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False),
    )
    snakemake(wd)
    for name in EXTRACTORS:
        assert_same_store(
            project / "results/features" / f"{name}.h5",
            wd / "results/features" / f"{name}.h5",
            exact=True,
        )
    a = pd.read_csv(project / "results/report/youtube/summary.csv")
    b = pd.read_csv(wd / "results/report/youtube/summary.csv")
    timing = [c for c in a.columns if "time" in c]
    pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing))


def test_memory_limit_fails_the_job_naming_rule_and_video(tmp_path):
    sheet = small_sheet(per_label=1, extra_ids=()).head(1)
    wd = make_project(tmp_path, sheet)
    vid = sheet["video_id"].iloc[0]
    proc = snakemake(
        wd,
        "--set-resources",
        "extract_effnet:mem_mb=50",
        "--",
        "results/extract/effnet/batches/b00000",
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "extract_effnet" in out and vid in out and "memory limit exceeded" in out


def test_timeout_per_video_gives_an_error_record(tmp_path):
    # the 3-minute explainer: 180 sampled frames take well over a second to embed
    sheet = small_sheet(per_label=1, extra_ids=("real_openboard_wannaworktogether",))
    extractors = {**SMALL_EXTRACTORS}
    extractors["effnet"] = {
        **extractors["effnet"],
        "params": {**extractors["effnet"]["params"], "max_frames": 600},
    }
    wd = make_project(tmp_path, sheet, extractors=extractors)
    vid = "real_openboard_wannaworktogether"
    batch = "results/extract/effnet/batches/b00000"  # auto: the 3 videos are one batch
    snakemake(wd, "--set-resources", "extract_effnet:video_timeout_s=1", "--", batch)
    data = store.read_video_file(wd / batch / f"{vid}.h5")
    assert not data["attrs"]["ok"] and data["attrs"]["stage"] == "timeout"
    assert "1 s timeout" in data["attrs"]["reason"]
