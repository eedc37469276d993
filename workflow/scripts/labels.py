"""Snakemake adapter: build one named label set from the sample sheet."""

from trimodal.jobs import make_label_set, setup_logging

setup_logging(snakemake.log[0])
make_label_set(snakemake.input.sheet, dict(snakemake.params.spec), snakemake.output[0])
