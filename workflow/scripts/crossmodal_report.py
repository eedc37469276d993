"""Snakemake adapter: the cross-modal table and heatmap."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.crossmodal import crossmodal_summary

    crossmodal_summary(list(snakemake.input), dict(snakemake.output))
