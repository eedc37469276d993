"""Snakemake adapter: one table of every probe and extraction failure."""

from pathlib import Path

from trimodal.joblog import job_log

with job_log(snakemake.log[0]):
    from trimodal.jobs import collect_failures

    collect_failures(
        list(snakemake.input.probes),
        {Path(p).stem: p for p in snakemake.input.stores},
        snakemake.output[0],
    )
