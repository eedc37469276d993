"""Snakemake adapter: run one extractor on a batch of videos, or on one video
(trimodal.stages.extract)."""

from pathlib import Path

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.plumbing.batching import shrink_for_attempt
    from trimodal.plumbing.limits import memory_limit
    from trimodal.stages.extract import CURRENT, extract_batch, extract_files, run_params
    from trimodal.store.reuse import across_versions, cache_dir

    p = snakemake.params
    res = snakemake.resources
    shrink_for_attempt(res.get("gpu_attempt"))  # a GPU job's retry: half the batch
    # run-time params (an inference batch size) come from the config, like threads: no
    # param of the rule, so changing them reruns nothing
    configured = snakemake.config["extractors"][p.extractor].get("params") or {}
    common = dict(
        extractor=p.extractor,
        kind=p.kind,
        modality=p.modality,
        model=p.model,
        params=dict(p.params),
        device=p.device,
        code=p.code,
        cache_dir=cache_dir(snakemake.config),
        across_versions=across_versions(snakemake.config),
        timeout_s=res.get("video_timeout_s"),
        partial_decode=snakemake.params.get("partial_decode", "warn"),
        run_params=run_params(p.kind, configured),
    )
    if "batch" in snakemake.wildcards.keys():
        Path(snakemake.output[0]).mkdir(parents=True, exist_ok=True)
        batch, first = snakemake.wildcards.batch, p.batch[0]["video_id"]

        def where():
            return f"{snakemake.rule} {batch} (video {CURRENT['video_id'] or first})"

        with memory_limit(res.get("mem_mb"), where):
            # per video: which inputs are its files; its file goes into the output folder
            extract_batch(list(p.batch), list(snakemake.input), snakemake.output[0], **common)
    else:
        vid = snakemake.wildcards.video_id
        with memory_limit(res.get("mem_mb"), f"{snakemake.rule} {vid}"):
            v = dict(p.video)  # its description, span and absent files, as values
            extract_files(
                video_id=vid,
                files=dict(snakemake.input.items()),
                output=snakemake.output[0],
                description=v.get("description"),
                span=v.get("span"),
                missing=v.get("missing"),
                **common,
            )
