"""Snakemake adapter: the thumbnail strip of every video of one batch (the explorer's)."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.report.explorer.thumbs import thumbnail_batch

    files = list(snakemake.input)
    videos = [  # each video's file is an input, named by its position (no path in params)
        {**v, "video": files[v["input"]] if v["input"] is not None else ""}
        for v in snakemake.params.videos
    ]
    thumbnail_batch(videos, snakemake.output[0])
