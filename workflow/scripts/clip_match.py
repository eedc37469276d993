"""Snakemake adapter: CLIP similarity of summaries to frames, retrieval both ways."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.plumbing.device import pick_device
    from trimodal.stages.clip import clip_match_job

    clip_match_job(
        snakemake.input.summaries,
        snakemake.input.frames,
        snakemake.input.get("distinct"),
        snakemake.params.model,
        list(snakemake.params.frame_agg),
        snakemake.output.videos,
        snakemake.output.metrics,
        device=pick_device(snakemake.params.device),
    )
