"""Snakemake adapter: every configured method on one (source -> target) embedding pair."""

from trimodal.jobs import crossmodal_pair, setup_logging

setup_logging(snakemake.log[0])
crossmodal_pair(
    dict(snakemake.params.spec), snakemake.input.labels, "results/features", snakemake.output[0]
)
