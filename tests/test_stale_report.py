"""A failed job of a label set must not leave that set's old report looking current (issue 24):
the workflow's onerror handler removes it and leaves STALE.md saying which result was missing."""

from __future__ import annotations

import os

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
