"""Snakemake adapter: tables and figures of one label set."""

from pathlib import Path

from trimodal.jobs import make_report, setup_logging

setup_logging(snakemake.log[0])
make_report(
    list(snakemake.input.results),
    str(Path(snakemake.output.summary).parent.parent),
    snakemake.wildcards.label_set,
)
