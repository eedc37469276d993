# Feature stores: one aggregation job per extractor merges its per-video files into
# results/features/<extractor>.h5 (the only writer of that file; written to a temporary name and
# renamed), and one table lists every failure.


rule store:
    input:
        # per-video files, or the batch folders holding them
        lambda wc: PLAN.store_inputs(wc.extractor),
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
        videos=VIDEO_IDS,  # the store's rows, in sheet order
        code=code_hash("trimodal.stages.store"),
    script:
        "../scripts/store.py"


rule failures:
    input:
        probes=PLAN.probe_deps(),
        stores=[store_path(name) for name in EXTRACTORS],
    output:
        report(
            "results/failures.tsv",
            caption="../report/failures.rst",
            category="Corpus",
        ),
    log:
        "logs/failures.log",
    benchmark:
        "benchmarks/failures.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        videos=VIDEO_IDS,
        # the sheet's flags (a value: the sheet is no job's input)
        sheet_flags=lambda wc: sheet_flags_param(),
        code=code_hash("trimodal.stages.store"),
    script:
        "../scripts/failures.py"
