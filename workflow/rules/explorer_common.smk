# The explorer's batches of thumbnails (the probe's batches) and the inputs and params of
# each thumbnails job: each video's file is an input, named by its position in params.
from trimodal.report.explorer import asset_hash

THUMB_BATCHES = (
    PROBE_BATCHES if PROBE_BATCHED else shard_batches(batch_size("auto", N_VIDEOS))
)


def thumb_inputs(wildcards):
    """The batch's video files (absent ones, missing_media: skip, are no input)."""
    return unique_deps(
        f for v in THUMB_BATCHES[wildcards.batch] if (f := present(v, "video"))
    )


def thumb_videos(wildcards):
    """Per video: its id, the position of its file among the inputs, its span."""
    files = thumb_inputs(wildcards)
    return [
        {
            "video_id": v,
            "input": files.index(present(v, "video")) if present(v, "video") else None,
            **span_param(v),
        }
        for v in THUMB_BATCHES[wildcards.batch]
    ]
