"""Snakemake adapter: one fusion evaluation of a registered kind (trimodal.stages.fuse)."""

from pathlib import Path

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.plumbing.plugins import load_plugins
    from trimodal.stages.fuse import fuse_one

    load_plugins(snakemake.config.get("fusion", {}).get("plugins"))  # plug-in fusion kinds
    load_plugins(snakemake.config["classify"].get("plugins"))  # plug-in classifiers
    spec = dict(snakemake.params.spec)
    fuse_one(
        kind=snakemake.wildcards.kind,
        feature_sets=list(spec["feature_sets"]),
        labels_tsv=snakemake.input.labels,
        label_set=snakemake.wildcards.label_set,
        features_dir=str(Path(snakemake.input.stores[0]).parent),  # where the rule's stores are
        classifier=spec.get("classifier", "ovr_linear_svc"),
        cv=dict(snakemake.params.cv),
        options={
            **({"device": snakemake.params.device} if snakemake.params.device else {}),
            **spec.get("options", {}),
        },
        base_results=list(snakemake.input.base),
        output=snakemake.output[0],
    )
