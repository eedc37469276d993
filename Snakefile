# trimodal: video corpus -> per-modality features -> classification, fusion, cross-modal mapping.
# Run `make demo` once (it sets up the environment and the demo corpus), or
# `snakemake --cores all --profile profiles/default` on your own sample sheet.


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/paths.smk"
include: "workflow/rules/targets.smk"


wildcard_constraints:
    video_id=ID_PATTERN,
    batch="b[0-9]+",
    extractor="|".join(map(re.escape, EXTRACTORS)),
    kind="|".join(map(re.escape, FUSION_KINDS)),
    label_set="|".join(map(re.escape, config["labels"]["sets"])),
    feature_set=r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+",
    classifier=r"[A-Za-z0-9_.-]+",
    name=r"[A-Za-z0-9_.+-]+",
    source="[a-z0-9_]+\.[a-z_]+",
    target="[a-z0-9_]+\.[a-z_]+",


include: "workflow/rules/corpus.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/stores.smk"
include: "workflow/rules/labels.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/fuse.smk"
include: "workflow/rules/crossmodal.smk"
include: "workflow/rules/clipstage.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/explorer.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        clip_stage_targets(),


# --forcerun extract_<name>: the main process marks the extractor's cache entries stale
onstart:
    mark_forced_extractors()
