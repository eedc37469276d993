# Configuration and input functions of the CLIP stage (rules in clipstage.smk). A bad
# `clip_stage` section stops the run before any job, with one message naming every problem.

from trimodal.stages.clip import check_config

CLIP_STAGE = config.get("clip_stage") or {}
DISTINCT = CLIP_STAGE.get("distinct_frames") or {}
_CLIP_STAGE_PROBLEMS = check_config(CLIP_STAGE, EXTRACTORS)
if _CLIP_STAGE_PROBLEMS:
    fail("bad clip_stage configuration:\n  " + "\n  ".join(_CLIP_STAGE_PROBLEMS))


def clip_stage_on(step):
    return step in CLIP_STAGE


def distinct_source_dep(name):
    def inputs(wildcards):
        return video_dep(DISTINCT[name]["source"], wildcards.video_id)

    return inputs


def clip_videos():
    """(video_id -> index into the list, the list of present video files): the text2image
    grid's frames come from the video files, which are its inputs."""
    ids = [v for v in VIDEO_IDS if PLAN.present(v, "video")]
    files = sorted({PLAN.present(v, "video") for v in ids})
    index = {f: i for i, f in enumerate(files)}
    return {v: index[PLAN.present(v, "video")] for v in ids}, files


def clip_model():
    return EXTRACTORS[CLIP_STAGE["frames"]]["model"]


def clip_stage_inputs(wildcards):
    files = {
        "summaries": "results/clip/summaries.tsv",
        "frames": store_path(CLIP_STAGE["frames"]),
    }
    if CLIP_STAGE.get("distinct"):
        files["distinct"] = store_path(CLIP_STAGE["distinct"])
    return files


def clip_report_inputs(wildcards):
    files = {"summaries": "results/clip/summaries.tsv"}
    if clip_stage_on("clip_match"):
        files["match_metrics"] = "results/clip/clip_match.tsv"
        files["match_videos"] = "results/clip/clip_match_videos.tsv"
    if clip_stage_on("text2image"):
        files["t2i_metrics"] = "results/clip/text2image.tsv"
        files["t2i_videos"] = "results/clip/text2image_videos.tsv"
    return files


def clip_stage_targets():
    """The stage's final files, for `rule all` (nothing when the stage is not configured)."""
    targets = [store_path(name) for name in DISTINCT]
    if clip_stage_on("clip_match") or clip_stage_on("text2image"):
        targets.append("results/report/crossmodal/clip.md")
    return targets
