"""Snakemake adapter: every description cut to the CLIP model's 77-token context."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.clip import make_summaries

    make_summaries(
        dict(snakemake.params.descriptions),
        snakemake.params.clip_model,
        dict(snakemake.params.summarize),
        snakemake.output[0],
    )
