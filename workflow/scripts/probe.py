"""Snakemake adapter: probe one video (and its audio-description track)."""

from trimodal.joblog import job_log

with job_log(snakemake.log[0]):
    from trimodal.jobs import probe_video

    probe_video(
        snakemake.wildcards.video_id,
        snakemake.input.video,
        snakemake.params.ad_audio,
        snakemake.output[0],
    )
