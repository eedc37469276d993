"""Snakemake adapter: one video's distinct frames from its source extractor's per-video file."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.crossmodal.clip.distinct_frames import distinct_frames_file
    from trimodal.plumbing.batching import video_path

    vid = snakemake.wildcards.video_id
    distinct_frames_file(
        video_id=vid,
        source_file=video_path(snakemake.input.source, vid, ".h5"),  # in a batch folder
        probe_json=video_path(snakemake.input.probe, vid, ".json"),
        output=snakemake.output[0],
        name=snakemake.params.name,
        spec=dict(snakemake.params.spec),
    )
