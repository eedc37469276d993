"""Snakemake adapter: tables and figures of one label set."""

from pathlib import Path

from trimodal.joblog import job_log

with job_log(snakemake.log[0]):
    from trimodal.stages.report import make_report

    make_report(
        list(snakemake.input.results),
        str(Path(snakemake.output.summary).parent.parent),
        snakemake.wildcards.label_set,
        circular=list(snakemake.params.circular),
        failures=snakemake.input.failures,
    )
