# Label sets: each named set in config (labels.sets) becomes results/labels/<name>.tsv
# (video_id, label), from the sheet's label column with optional class merging; the
# classification rules run on each set side by side.


rule labels:
    input:
        sheet=config["samples"],
    output:
        "results/labels/{label_set}.tsv",
    log:
        "logs/labels/{label_set}.log",
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        spec=lambda wc: config["labels"]["sets"][wc.label_set],
    script:
        "../scripts/labels.py"
