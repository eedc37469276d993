"""Snakemake adapter: one table of every probe and extraction failure."""

from pathlib import Path

from trimodal.jobs import collect_failures, setup_logging

setup_logging(snakemake.log[0])
collect_failures(
    list(snakemake.input.probes),
    {Path(p).stem: p for p in snakemake.input.stores},
    snakemake.output[0],
)
