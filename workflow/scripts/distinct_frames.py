"""Snakemake adapter: one video's distinct frames from its source extractor's per-video file."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.crossmodal.clip.distinct_frames import distinct_frames_file

    distinct_frames_file(
        video_id=snakemake.wildcards.video_id,
        source_file=snakemake.params.source_file,  # inside the input folder when batched
        probe_json=snakemake.params.probe_file,  # inside the probe batch folder
        output=snakemake.output[0],
        name=snakemake.params.name,
        spec=dict(snakemake.params.spec),
    )
