# Fusion of modalities, one job per (label set, configured fusion): early concatenation of
# pooled vectors (each block standardised inside the folds), an intermediate multi-branch
# network, and late fusion of the per-modality out-of-fold probabilities (stacked logistic
# regression, mean, vote). Configured under `fusion:`; outputs are CV results like classify's.


rule fuse:
    input:
        stores=lambda wc: [fs_store(fs) for fs in fusion_spec(wc.name)["feature_sets"]],
        labels="results/labels/{label_set}.tsv",
        base=lambda wc: fusion_base_results(wc.label_set, wc.kind, wc.name),
    output:
        "results/fusion/{label_set}/{kind}/{name}.h5",
    log:
        "logs/fusion/{label_set}/{kind}/{name}.log",
    benchmark:
        "benchmarks/fusion/{label_set}/{kind}/{name}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        **learner_gpu(lambda wc: wc.kind == "intermediate", config["device"]),
        mem_mb=2000,
        runtime=30,
    params:
        spec=lambda wc: fusion_job_spec(wc.name, wc.kind),
        cv=lookup(dpath="classify/cv", within=config, default={}),
        # the network's device (the intermediate kind trains one; the others ignore it)
        device=lambda wc: (config["device"] if wc.kind == "intermediate" else ""),
        code=code_hash("trimodal.stages.fuse", *FUSION_PLUGINS, *CLASSIFY_PLUGINS),
    script:
        "../scripts/fuse.py"
