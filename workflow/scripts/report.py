"""Snakemake adapter: tables and figures of one label set."""

from pathlib import Path

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.report import make_report

    make_report(
        list(snakemake.input.results),
        str(Path(snakemake.output.summary).parent.parent),
        snakemake.wildcards.label_set,
        circular=list(snakemake.params.circular),
        failures=snakemake.input.failures,
    )
