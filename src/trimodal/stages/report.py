"""The report stage: per label set, the results table with baselines, the fusion verdict, the
figures and the provenance of every row (summary.md/.html/.csv)."""

from __future__ import annotations


def make_report(
    results: list[str], out_dir: str, label_set: str, failures: str | None = None
) -> dict:
    from trimodal.report import write_report

    return write_report(results, out_dir, label_set, failures=failures)
