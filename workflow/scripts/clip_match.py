"""Snakemake adapter: CLIP similarity of summaries to frames, retrieval both ways."""

from trimodal.clip_stage import clip_match_job
from trimodal.jobs import pick_device, setup_logging

setup_logging(snakemake.log[0])
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
