"""Snakemake adapter: merge one extractor's per-video files into its feature store."""

from trimodal.jobs import setup_logging
from trimodal.stages.store import aggregate_store

setup_logging(snakemake.log[0])
aggregate_store(
    list(snakemake.params.files),  # per-video files (inside batch folders when batched)
    snakemake.output[0],
    snakemake.wildcards.extractor,
    dict(snakemake.params.spec),
    code=snakemake.params.code,
)
