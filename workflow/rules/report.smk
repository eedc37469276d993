# Report: one Markdown/CSV table per label set, confusion matrices and a comparison chart,
# also registered for `snakemake --report report.html`. There the results and provenance tables
# are a self-contained HTML page (summary.html): the report shows HTML as it is, Markdown as
# raw text.


rule report:
    input:
        results=lambda wc: [p for p in report_inputs() if f"/{wc.label_set}/" in p],
        failures="results/failures.tsv",
    output:
        summary="results/report/{label_set}/summary.md",
        html=report(
            "results/report/{label_set}/summary.html",
            caption="../report/summary.rst",
            category="Results",
            labels={"label set": "{label_set}", "table": "summary"},
        ),
        csv="results/report/{label_set}/summary.csv",
        bars=report(
            "results/report/{label_set}/bars.png",
            caption="../report/figures.rst",
            category="Results",
            labels={"label set": "{label_set}", "figure": "bars"},
        ),
        confusion=report(
            directory("results/report/{label_set}/confusion"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Results",
            labels={"label set": "{label_set}", "figure": "{name}"},
        ),
    log:
        "logs/report/{label_set}.log",
    benchmark:
        "benchmarks/report/{label_set}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_hash("trimodal.stages.report"),
        # extractors this label set was derived from (marked "circular" in the table)
        circular=lambda wc: circular_pairs(config).get(wc.label_set, []),
    script:
        "../scripts/report.py"


# A failed classify or fuse job must not leave its label set's old report looking current:
# remove it (STALE.md says why); the next successful run rebuilds it.
# Local results only: under a default storage provider the report lives in the bucket, and
# the local folder of that name belongs to no run of this workflow.
onerror:
    from trimodal.stages.report import stale_report

    _reports = sorted({p.split("/")[2] for p in report_inputs()})
    for _ls in [] if STORAGE.default_provider else _reports:
        stale_report(
            f"results/report/{_ls}", [p for p in report_inputs() if f"/{_ls}/" in p]
        )
