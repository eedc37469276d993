"""A failed job of a label set must not leave that set's old report looking current (issue 24):
the workflow's onerror handler removes it and leaves STALE.md saying which result was missing."""

from __future__ import annotations

import os

import pytest

from trimodal.stages.report import stale_report


def _report(root):
    (root / "confusion").mkdir(parents=True)
    for name in ("summary.md", "summary.html", "summary.csv", "bars.png", "confusion/a.png"):
        (root / name).write_text("old")
    os.utime(root / "summary.md", (1_000_000, 1_000_000))


def test_a_missing_result_removes_the_old_report(tmp_path):
    root = tmp_path / "report" / "youtube"
    _report(root)
    ok = tmp_path / "ok.h5"
    ok.write_text("x")
    os.utime(ok, (10, 10))  # older than the report
    assert stale_report(str(root), [str(ok), str(tmp_path / "failed.h5")])
    assert not (root / "summary.md").exists() and not (root / "confusion").exists()
    assert "missing: " in (root / "STALE.md").read_text()


def test_a_current_report_is_kept(tmp_path):
    root = tmp_path / "report" / "youtube"
    _report(root)
    ok = tmp_path / "ok.h5"
    ok.write_text("x")
    os.utime(ok, (10, 10))
    assert not stale_report(str(root), [str(ok)])
    assert (root / "summary.md").read_text() == "old" and not (root / "STALE.md").exists()


@pytest.mark.slow
def test_a_failed_classify_job_marks_the_report_stale_through_the_workflow(tmp_path):
    """A store damaged after a good run makes its classify jobs fail: the run exits non-zero,
    the label set's report is removed and STALE.md names the missing result; the next good run
    rebuilds the report and removes STALE.md."""
    from tests.workflow_project import SMALL_EXTRACTORS, make_project, small_sheet, snakemake

    extractors = {k: SMALL_EXTRACTORS[k] for k in ("sbert_desc", "yamnet")}
    wd = make_project(tmp_path, small_sheet(), extractors=extractors,
                      feature_sets=("sbert_desc:mean", "yamnet:mean"))  # fmt: skip
    snakemake(wd)
    report = wd / "results" / "report" / "youtube"
    assert (report / "summary.md").exists() and not (report / "STALE.md").exists()

    (wd / "results" / "features" / "yamnet.h5").write_bytes(b"not an HDF5 file")
    proc = snakemake(wd, check=False)
    assert proc.returncode != 0
    assert not (report / "summary.md").exists() and not (report / "summary.html").exists()
    stale = (report / "STALE.md").read_text()
    assert "yamnet.mean/ovr_linear_svc.h5" in stale

    (wd / "results" / "features" / "yamnet.h5").unlink()  # the fix: rebuild the store
    snakemake(wd)
    assert (report / "summary.md").exists() and not (report / "STALE.md").exists()
