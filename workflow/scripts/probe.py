"""Snakemake adapter: probe one video (and its audio-description track)."""

from trimodal.jobs import probe_video, setup_logging

setup_logging(snakemake.log[0])
probe_video(
    snakemake.wildcards.video_id,
    snakemake.input.video,
    snakemake.params.ad_audio,
    snakemake.output[0],
)
