"""Snakemake adapter: one table of every sheet flag, probe and extraction failure."""

from pathlib import Path

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.corpus.sheet import sheet_flags
    from trimodal.stages.store import collect_failures

    collect_failures(
        list(snakemake.params.probes),
        {Path(p).stem: p for p in snakemake.input.stores},
        snakemake.output[0],
        sheet_flags=sheet_flags(snakemake.input.sheet),
    )
