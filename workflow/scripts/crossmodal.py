"""Snakemake adapter: every configured method on one (source -> target) embedding pair."""

from pathlib import Path

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.crossmodal import crossmodal_pair

    labels = snakemake.input.get("labels")  # optional: label agreement where labels exist
    labels = [labels] if isinstance(labels, str) else list(labels or [])
    crossmodal_pair(
        dict(snakemake.params.spec),
        str(labels[0]) if labels else None,
        str(Path(snakemake.input.source).parent),  # where the rule's stores are
        snakemake.output.table,
        snakemake.output.folds,
        ranks_out=snakemake.output.ranks,
        videos=dict(snakemake.params.videos),  # every sheet row: group, split
    )
