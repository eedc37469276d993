"""Snakemake adapter: images from the summaries, scored by CLIP against the videos' frames."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.plumbing.device import pick_device
    from trimodal.stages.clip import text2image_cache, text2image_job

    videos = list(snakemake.input.videos)
    text2image_job(
        snakemake.input.summaries,
        snakemake.input.frames,
        snakemake.input.get("distinct"),
        snakemake.params.clip_model,
        dict(snakemake.params.spec),
        {vid: videos[i] for vid, i in dict(snakemake.params.videos).items()},
        snakemake.output.videos,
        snakemake.output.metrics,
        snakemake.output.images,
        snakemake.output.grid,
        # images drawn before on this machine (the reuse cache), else a scratch folder
        text2image_cache(snakemake.config),
        device=pick_device(snakemake.params.device),
    )
