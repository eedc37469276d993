"""Snakemake adapter: the CLIP stage's table in the cross-modal report."""

from trimodal.clip_stage import write_clip_report
from trimodal.jobs import setup_logging

setup_logging(snakemake.log[0])
write_clip_report(
    snakemake.output.md,
    snakemake.output.csv,
    models=dict(snakemake.params.models),
    **dict(snakemake.input.items()),
)
