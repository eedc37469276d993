"""Snakemake adapter: probe a batch of videos, or one (trimodal.stages.probe)."""

from pathlib import Path

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.probe import probe_batch, probe_video

    if "batch" in snakemake.wildcards.keys():
        Path(snakemake.output[0]).mkdir(parents=True, exist_ok=True)
        # per video: which inputs are its files; its JSON goes into the output folder
        probe_batch(list(snakemake.params.videos), list(snakemake.input), snakemake.output[0])
    else:
        v = dict(snakemake.params.video)
        probe_video(
            snakemake.wildcards.video_id,
            snakemake.input.get("video"),
            snakemake.input.get("ad_audio"),
            snakemake.output[0],
            span=v.get("span"),
            missing=v.get("missing"),
        )
