# Classification: one job per (label set, feature set, classifier): stratified k-fold
# cross-validation on a feature store, writing out-of-fold predictions and probabilities (for
# fusion and the report) and per-fold metrics with the majority-class baseline.


rule classify:
    input:
        store=lambda wc: fs_store(wc.feature_set),
        labels="results/labels/{label_set}.tsv",
    output:
        "results/classify/{label_set}/{feature_set}/{classifier}.h5",
    log:
        "logs/classify/{label_set}/{feature_set}/{classifier}.log",
    benchmark:
        "benchmarks/classify/{label_set}/{feature_set}/{classifier}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        **learner_gpu(
            lambda wc: classify_options(wc.classifier).get("base") == "finetune",
            classify_options("finetune")["device"],
        ),
        mem_mb=2000,
        runtime=30,
    params:
        pooling=lambda wc: FeatureSet.parse(wc.feature_set).pooling,
        cv=lookup(dpath="classify/cv", within=config, default={}),
        options=lambda wc: classify_options(wc.classifier),
        # the code the job runs (trimodal.plumbing.codehash): editing learn/classify.py reruns classification
        code=code_hash("trimodal.stages.classify", *CLASSIFY_PLUGINS),
    script:
        "../scripts/classify.py"
