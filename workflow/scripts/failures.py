"""Snakemake adapter: one table of every sheet flag, probe and extraction failure."""

from pathlib import Path

from trimodal.jobs import setup_logging
from trimodal.stages.store import collect_failures

setup_logging(snakemake.log[0])
collect_failures(
    list(snakemake.params.probes),
    {Path(p).stem: p for p in snakemake.input.stores},
    snakemake.output[0],
)
