"""Snakemake adapter: one table of every sheet flag, probe and extraction failure."""

from pathlib import Path

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    import pandas as pd

    from trimodal.plumbing.batching import per_video_files
    from trimodal.stages.store import collect_failures

    flags = pd.DataFrame(list(snakemake.params.sheet_flags), columns=["video_id", "flag", "line"])
    collect_failures(
        per_video_files(list(snakemake.input.probes), list(snakemake.params.videos), ".json"),
        {Path(p).stem: p for p in snakemake.input.stores},
        snakemake.output[0],
        sheet_flags=flags,
    )
