"""Snakemake adapter: run one extractor on one video (see trimodal.jobs.extract_one)."""

from trimodal.jobs import extract_one, setup_logging
from trimodal.limits import memory_limit

setup_logging(snakemake.log[0])
vid = snakemake.wildcards.video_id
p = snakemake.params
res = snakemake.resources
with memory_limit(res.get("mem_mb"), f"{snakemake.rule} {vid}"):
    extract_one(
        video_id=vid,
        row={
            "video": snakemake.input.get("video"),
            "ad_audio": snakemake.input.get("ad_audio"),
            "description": p.get("description"),
        },
        probe_json=snakemake.input.probe,
        output=snakemake.output[0],
        extractor=p.extractor,
        kind=p.kind,
        modality=p.modality,
        model=p.model,
        params=dict(p.params),
        device=p.device,
        text_inputs={k[5:]: v for k, v in snakemake.input.items() if k.startswith("text_")},
        timeout_s=res.get("video_timeout_s"),
    )
