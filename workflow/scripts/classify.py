"""Snakemake adapter: cross-validate one classifier on one feature set."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.plumbing.plugins import load_plugins
    from trimodal.stages.classify import classify_one

    load_plugins(snakemake.config["classify"].get("plugins"))  # plug-in classifiers
    classify_one(
        store_path=snakemake.input.store,
        pooling=snakemake.params.pooling,
        labels_tsv=snakemake.input.labels,
        label_set=snakemake.wildcards.label_set,
        classifier=snakemake.wildcards.classifier,
        cv=dict(snakemake.params.cv),
        options=dict(snakemake.params.options),
        output=snakemake.output[0],
    )
