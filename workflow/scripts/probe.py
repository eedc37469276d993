"""Snakemake adapter: probe a batch of videos, or one (trimodal.stages.probe)."""

from pathlib import Path

from trimodal.jobs import setup_logging
from trimodal.stages.probe import probe_batch, probe_video

setup_logging(snakemake.log[0])
if "batch" in snakemake.wildcards.keys():
    Path(snakemake.output[0]).mkdir(parents=True, exist_ok=True)
    probe_batch(list(snakemake.params.videos))
else:
    probe_video(
        snakemake.wildcards.video_id,
        snakemake.input.video,
        snakemake.params.ad_audio,
        snakemake.output[0],
    )
