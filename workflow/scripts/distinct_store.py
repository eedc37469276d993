"""Snakemake adapter: merge one distinct_frames entry's per-video files into its store."""

from trimodal.jobs import aggregate_store, setup_logging

setup_logging(snakemake.log[0])
spec = {"kind": "distinct_frames", "modality": "video", "params": dict(snakemake.params.spec)}
aggregate_store(list(snakemake.input), snakemake.output[0], snakemake.params.name, spec)
