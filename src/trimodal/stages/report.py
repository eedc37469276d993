"""The report stage: per label set, the results table with baselines, the fusion verdict, the
figures and the provenance of every row (summary.md/.html/.csv)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("trimodal")


def make_report(
    results: list[str],
    out_dir: str,
    label_set: str,
    circular=(),
    failures: str | None = None,
) -> dict:
    from trimodal.report.summary import write_report

    return write_report(results, out_dir, label_set, circular=circular, failures=failures)


#: outputs of the report rule, per label set folder
REPORT_FILES = ("summary.md", "summary.html", "summary.csv", "bars.png")
STALE = "STALE.md"


def stale_report(folder: str, inputs: list[str]) -> bool:
    """After a failed run: when any result this label set's report reads is missing or newer
    than its summary (a classify or fuse job of the set failed), remove the old report so it
    cannot pass for current, and leave STALE.md saying why. True when it did."""
    import os
    import shutil

    root = Path(folder)
    summary = root / "summary.md"
    if not summary.exists():
        return False
    made = summary.stat().st_mtime
    missing = [p for p in inputs if not os.path.exists(p)]
    newer = [p for p in inputs if os.path.exists(p) and os.path.getmtime(p) > made]
    if not missing and not newer:
        return False
    for name in REPORT_FILES:
        (root / name).unlink(missing_ok=True)
    shutil.rmtree(root / "confusion", ignore_errors=True)
    lines = [f"# Report of label set {root.name} removed: a job of this label set failed", ""]
    lines += [f"- missing: {p}" for p in missing] + [f"- newer than the report: {p}" for p in newer]
    lines += ["", "Fix the failed job (see its log) and run snakemake again to rebuild it."]
    (root / STALE).write_text("\n".join(lines) + "\n")
    log.warning("report of %s removed (stale): %d inputs missing", root.name, len(missing))
    return True
