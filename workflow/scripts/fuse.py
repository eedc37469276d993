"""Snakemake adapter: one fusion evaluation (early, intermediate or late)."""

from trimodal.jobs import fuse_one, setup_logging

setup_logging(snakemake.log[0])
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
