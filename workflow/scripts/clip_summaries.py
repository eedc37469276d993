"""Snakemake adapter: every description cut to the CLIP model's 77-token context."""

from trimodal.clip_stage import make_summaries
from trimodal.jobs import setup_logging

setup_logging(snakemake.log[0])
make_summaries(
    snakemake.input.sheet,
    snakemake.params.clip_model,
    dict(snakemake.params.summarize),
    snakemake.output[0],
)
