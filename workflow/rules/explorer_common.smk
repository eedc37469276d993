# The explorer's batches of thumbnails (the probe's batches) and the inputs and params of
# each thumbnails job: each video's file is an input, named by its position in params.
from trimodal.plumbing.batching import batch_size
from trimodal.report.explorer import asset_hash

THUMB_BATCHES = (
    PROBE_BATCHES
    if PROBE_BATCHED
    else PLAN.shard_batches(batch_size("auto", len(VIDEO_IDS)))
)


def thumb_files(batch):
    """The batch's video files (absent ones, missing_media: skip, are no input)."""
    return unique(f for v in THUMB_BATCHES[batch] if (f := PLAN.present(v, "video")))


def thumb_inputs(wildcards):
    return declare(thumb_files(wildcards.batch))


def thumb_videos(wildcards):
    """Per video: its id, the position of its file among the inputs, its span."""
    files = thumb_files(wildcards.batch)
    return [
        {
            "video_id": v,
            "input": files.index(f) if (f := PLAN.present(v, "video")) else None,
            **PLAN.span(v),
        }
        for v in THUMB_BATCHES[wildcards.batch]
    ]


def explorer_rows(wildcards):
    """Each sheet row's label and description, as the explorer page shows them."""
    return {v: [r.get("label", ""), r.get("description", "")] for v, r in ROWS.items()}
