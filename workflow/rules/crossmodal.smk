# Cross-modal mapping: for each configured (source -> target) pair of pooled embeddings, ridge,
# CCA, an MLP and an auto-encoder (MSE and contrastive losses), trained per CV fold and judged
# by nearest-neighbour retrieval among the test fold's targets, beside chance levels. It runs on
# every video both stores hold, labelled or not (the sheet's groups and splits; a labelled video
# keeps its label set's fold, trimodal.crossmodal.evaluate.candidate_folds); the label set, when
# there is one, only gives label agreement. The fold of each video is kept beside the table
# (.folds.tsv).


rule crossmodal_pair:
    input:
        source=lambda wc: fs_store(wc.source),
        target=lambda wc: fs_store(wc.target),
        labels=lambda wc: crossmodal_labels(),
    output:
        table="results/crossmodal/{source}__{target}.tsv",
        folds="results/crossmodal/{source}__{target}.folds.tsv",
        # each test query's top-k retrieved videos (the explorer's retrieval view)
        ranks="results/crossmodal/{source}__{target}.ranks.h5",
    log:
        "logs/crossmodal/{source}__{target}.log",
    benchmark:
        "benchmarks/crossmodal/{source}__{target}.tsv"
    retries: gpu_retries(PLAN.crossmodal_gpu())
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        # its neural methods train on a GPU under the configured device
        **PLAN.crossmodal_gpu(),
        mem_mb=2000,
        runtime=60,
    params:
        spec=lambda wc: crossmodal_pair_spec(wc.source, wc.target),
        videos=lambda wc: crossmodal_rows(),
        code=code_hash("trimodal.stages.crossmodal"),
    script:
        "../scripts/crossmodal.py"


rule crossmodal_report:
    input:
        crossmodal_targets(),
    output:
        table="results/report/crossmodal/crossmodal.md",
        html=report(
            "results/report/crossmodal/crossmodal.html",
            caption="../report/crossmodal.rst",
            category="Cross-modal",
            labels={"table": "cross-modal retrieval"},
        ),
        csv="results/report/crossmodal/crossmodal.csv",
        heatmap=report(
            "results/report/crossmodal/heatmap.png",
            caption="../report/crossmodal.rst",
            category="Cross-modal",
            labels={"figure": "best R@10 heatmap"},
        ),
        hubness=report(
            "results/report/crossmodal/hubness.png",
            caption="../report/crossmodal.rst",
            category="Cross-modal",
            labels={"figure": "k-occurrence and R@k per pair"},
        ),
    log:
        "logs/crossmodal/report.log",
    benchmark:
        "benchmarks/crossmodal/report.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code_hash("trimodal.stages.crossmodal"),
    script:
        "../scripts/crossmodal_report.py"
