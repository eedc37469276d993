"""Snakemake adapter: merge one extractor's per-video files into its feature store
(trimodal.stages.store)."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.store import store_extractor

    store_extractor(
        inputs=list(snakemake.input),
        videos=list(snakemake.params.videos),
        output=snakemake.output[0],
        extractor=snakemake.wildcards.extractor,
        spec=dict(snakemake.params.spec),
        code=snakemake.params.code,
        config=snakemake.config,
    )
