"""Snakemake adapter: every configured method on one (source -> target) embedding pair."""

from trimodal.joblog import job_log

with job_log(snakemake.log[0]):
    from trimodal.stages.crossmodal import crossmodal_pair

    crossmodal_pair(
        dict(snakemake.params.spec),
        snakemake.input.labels,
        "results/features",
        snakemake.output.table,
        snakemake.output.folds,
    )
