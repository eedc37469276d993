# Corpus stage: one probe job per video (duration, streams, codecs). An unreadable file gives a
# JSON with ok: false and the reason; it never fails the run.


rule probe:
    input:
        video=lambda wc: ROWS[wc.video_id]["video"],
    output:
        "results/probe/{video_id}.json",
    log:
        "logs/probe/{video_id}.log",
    benchmark:
        "benchmarks/probe/{video_id}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=300,
        runtime=2,
    params:
        ad_audio=lambda wc: ROWS[wc.video_id]["ad_audio"] or None,
    script:
        "../scripts/probe.py"
