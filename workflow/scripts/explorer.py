"""Snakemake adapter: the static results explorer (results/explorer/index.html)."""

from pathlib import Path

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.report.explorer.build import build_explorer

    i = snakemake.input
    build_explorer(
        Path(snakemake.output.index).parent,
        sheet=dict(snakemake.params.rows),
        labels=list(i.labels),
        results=list(i.results),
        stores=list(i.stores),
        failures=i.failures,
        crossmodal_tables=list(i.crossmodal),
        rankings=list(i.rankings),
        thumbs=list(i.thumbs),
        report_html=snakemake.output.report,
    )
