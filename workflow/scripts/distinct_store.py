"""Snakemake adapter: merge one distinct_frames entry's per-video files into its store."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.store import aggregate_store

    spec = {"kind": "distinct_frames", "modality": "video", "params": dict(snakemake.params.spec)}
    aggregate_store(list(snakemake.input), snakemake.output[0], snakemake.params.name, spec)
