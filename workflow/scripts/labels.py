"""Snakemake adapter: build one named label set."""

from pathlib import Path

from trimodal.plumbing.joblog import job_log
from trimodal.plumbing.threads import start_job

with job_log(snakemake.log[0]):
    start_job(snakemake.threads, snakemake.resources.get("gpu", 0))
    from trimodal.plumbing.atomic import write_text
    from trimodal.stages.labels import make_label_set, rows_frame

    out = snakemake.output
    make_label_set(
        rows_frame(dict(snakemake.params.rows)),  # what it reads of the sheet, as values
        dict(snakemake.params.spec),
        out.labels,
        language_store=snakemake.input.get("language"),
        probs_out=out.probs,
        report_out=out.report,
    )
    for path in (out.probs, out.report):  # only zero-shot sets have these
        if not Path(path).exists():
            write_text(path, "")
