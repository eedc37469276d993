"""Snakemake adapter: merge one extractor's per-video files into its feature store."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.plumbing.batching import per_video_files
    from trimodal.stages.store import aggregate_store
    from trimodal.store.reuse import across_versions

    aggregate_store(
        # per-video files: the inputs, or inside the batch folders that are the inputs
        per_video_files(list(snakemake.input), list(snakemake.params.videos), ".h5"),
        snakemake.output[0],
        snakemake.wildcards.extractor,
        dict(snakemake.params.spec),
        code=snakemake.params.code,
        across_versions=across_versions(snakemake.config),
    )
