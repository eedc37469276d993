"""Snakemake adapter: one table of every sheet flag, probe and extraction failure
(trimodal.stages.store)."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.store import write_failures

    write_failures(
        probes=list(snakemake.input.probes),
        videos=list(snakemake.params.videos),
        stores=list(snakemake.input.stores),
        output=snakemake.output[0],
        sheet_flags=list(snakemake.params.sheet_flags),
    )
