# Label sets: each named set in config (labels.sets) becomes results/labels/<name>.tsv
# (video_id, label): the sheet's labels, optionally merged and filtered by spoken language, or
# a zero-shot relabelling from the written description (with its full probability table and a
# report of the new distribution against the original). Classification runs on each set.


rule labels:
    input:
        unpack(label_inputs),
    output:
        labels="results/labels/{label_set}.tsv",
        probs="results/labels/{label_set}.probs.tsv",
        report="results/labels/{label_set}.relabel.json",
    log:
        "logs/labels/{label_set}.log",
    benchmark:
        "benchmarks/labels/{label_set}.tsv"
    conda:
        "../../envs/text.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lookup(dpath="labels/sets/{label_set}", within=config),
        rows=label_rows,
        code=code_hash("trimodal.stages.labels"),
    script:
        "../scripts/labels.py"
