"""Snakemake adapter: one fusion evaluation (early, intermediate or late)."""

from trimodal.joblog import job_log

with job_log(snakemake.log[0]):
    from trimodal.jobs import fuse_one

    spec = dict(snakemake.params.spec)
    kind = snakemake.wildcards.kind.replace("-", ":")
    fuse_one(
        kind=kind,
        feature_sets=list(spec["feature_sets"]),
        labels_tsv=snakemake.input.labels,
        label_set=snakemake.wildcards.label_set,
        features_dir="results/features",
        classifier=spec.get("classifier", "ovr_linear_svc"),
        cv=dict(snakemake.params.cv),
        options=dict(spec.get("options", {})) if kind == "intermediate" else {},
        base_results=list(snakemake.input.base),
        output=snakemake.output[0],
    )
