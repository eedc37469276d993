"""Snakemake adapter: the CLIP stage's table in the cross-modal report (trimodal.stages.clip)."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.clip import clip_report_job

    clip_report_job(
        snakemake.output.md,
        snakemake.output.csv,
        models=dict(snakemake.params.models),
        **dict(snakemake.input.items()),
    )
