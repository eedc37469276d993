"""Snakemake adapter: the cross-modal table and heatmap."""

from trimodal.jobs import crossmodal_summary, setup_logging

setup_logging(snakemake.log[0])
crossmodal_summary(list(snakemake.input), dict(snakemake.output))
