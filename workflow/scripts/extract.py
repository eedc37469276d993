"""Snakemake adapter: run one extractor on a batch of videos, or on one video
(trimodal.stages.extract)."""

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.stages.extract import extract_job

    p = snakemake.params
    job = dict(
        rule=snakemake.rule,
        extractor=p.extractor,
        kind=p.kind,
        modality=p.modality,
        model=p.model,
        params=dict(p.params),
        device=p.device,
        code=p.code,
        config=snakemake.config,
        resources=snakemake.resources,
        output=snakemake.output[0],
        partial_decode=p.get("partial_decode", "warn"),
    )
    if "batch" in snakemake.wildcards.keys():
        extract_job(
            **job,
            batch=snakemake.wildcards.batch,
            videos=list(p.batch),
            inputs=list(snakemake.input),
        )
    else:
        extract_job(
            **job,
            video_id=snakemake.wildcards.video_id,
            video=dict(p.video),
            files=dict(snakemake.input.items()),
        )
