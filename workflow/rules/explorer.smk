# Results explorer: a static page (results/explorer/index.html, its assets, data chunks and
# thumbnails; no server, no network) built from the stores, the out-of-fold predictions, the
# cross-modal rankings per query, failures.tsv and one thumbnail strip per video. The strips
# are written per batch of videos (the probe's batches), like any extraction.
include: "explorer_common.smk"


rule thumbnails:
    input:
        thumb_inputs,
    output:
        directory("results/thumbs/{batch}"),
    log:
        "logs/thumbs/{batch}.log",
    benchmark:
        "benchmarks/thumbs/{batch}.tsv"
    conda:
        "../../envs/video.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=lambda wc: 2 + len(THUMB_BATCHES[wc.batch]) // 50,
    params:
        videos=thumb_videos,
        code=code_hash("trimodal.report.explorer.thumbs"),
    script:
        "../scripts/thumbnails.py"


rule explorer:
    input:
        labels=expand("results/labels/{label_set}.tsv", label_set=LABEL_SETS),
        results=report_inputs(),
        stores=[store_path(name) for name in EXTRACTORS],
        failures="results/failures.tsv",
        crossmodal=crossmodal_targets(),
        rankings=[t.removesuffix(".tsv") + ".ranks.h5" for t in crossmodal_targets()],
        thumbs=expand("results/thumbs/{batch}", batch=THUMB_BATCHES),
    output:
        index="results/explorer/index.html",
        assets=directory("results/explorer/assets"),
        data=directory("results/explorer/data"),
        thumbs=directory("results/explorer/thumbs"),
        # the single-file edition, for `snakemake --report report.html`
        report=report(
            "results/explorer/report.html",
            caption="../report/explorer.rst",
            category="Explorer",
        ),
    log:
        "logs/explorer.log",
    benchmark:
        "benchmarks/explorer.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        # what the page shows of the sheet: values, not the sheet file (a bucket key under a
        # storage provider)
        rows=explorer_rows,
        code=code_hash("trimodal.report.explorer.build"),
        assets=asset_hash(),
    script:
        "../scripts/explorer.py"
