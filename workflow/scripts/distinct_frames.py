"""Snakemake adapter: one video's distinct frames (trimodal.stages.distinct_frames)."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.distinct_frames import distinct_frames_job

    distinct_frames_job(
        video_id=snakemake.wildcards.video_id,
        source=snakemake.input.source,
        probe=snakemake.input.probe,
        output=snakemake.output[0],
        name=snakemake.params.name,
        spec=dict(snakemake.params.spec),
    )
