# Feature stores: one aggregation job per extractor merges its per-video files into
# results/features/<extractor>.h5 (the only writer of that file; written to a temporary name and
# renamed), and one table lists every failure.


rule store:
    input:
        lambda wc: unique_deps(video_dep(wc.extractor, v) for v in VIDEO_IDS),
    output:
        "results/features/{extractor}.h5",
    log:
        "logs/store/{extractor}.log",
    benchmark:
        "benchmarks/store/{extractor}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=lambda wc: store_spec(wc.extractor),
        files=lambda wc: [video_file(wc.extractor, v) for v in VIDEO_IDS],
        code=code_hash("trimodal.stages.store"),
    script:
        "../scripts/store.py"


rule failures:
    input:
        sheet=config["samples"],
        probes=unique_deps(probe_dep(v) for v in VIDEO_IDS),
        stores=[store_path(name) for name in EXTRACTORS],
    output:
        report(
            "results/failures.tsv",
            caption="../report/failures.rst",
            category="Corpus",
        ),
    log:
        "logs/failures.log",
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        probes=[probe_file(v) for v in VIDEO_IDS],
        code=code_hash("trimodal.stages.store"),
    script:
        "../scripts/failures.py"
