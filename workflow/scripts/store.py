"""Snakemake adapter: merge one extractor's per-video files into its feature store."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.store import aggregate_store
    from trimodal.store.reuse import across_versions

    aggregate_store(
        list(snakemake.params.files),  # per-video files (inside batch folders when batched)
        snakemake.output[0],
        snakemake.wildcards.extractor,
        dict(snakemake.params.spec),
        code=snakemake.params.code,
        across_versions=across_versions(snakemake.config),
    )
