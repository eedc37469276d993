"""Another workflow can use trimodal as a Snakemake module (`module` + `use rule * from`),
with its own config, and run a real job."""

from __future__ import annotations

import pytest

from tests.workflow_project import (
    ROOT,
    SMALL_EXTRACTORS,
    make_project,
    planned_jobs,
    small_sheet,
    snakemake,
)
from trimodal.store import features as store

pytestmark = pytest.mark.slow

HOST = """configfile: "config/config.yaml"


module trimodal:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from trimodal


rule my_all:
    default_target: True
    input:
        "results/features/yamnet.h5",
"""


def test_a_host_workflow_uses_trimodal_as_a_module(tmp_path):
    sheet = small_sheet(per_label=1, extra_ids=())
    wd = make_project(tmp_path, sheet, {"yamnet": SMALL_EXTRACTORS["yamnet"]},
                      feature_sets=("yamnet:mean",))  # fmt: skip
    host = wd / "Snakefile"
    host.write_text(HOST.format(snakefile=ROOT / "Snakefile"))
    jobs = planned_jobs(wd, "--snakefile", str(host))
    assert jobs == {"probe": 1, "extract_yamnet": 1, "store": 1, "my_all": 1}, jobs
    snakemake(wd, "--snakefile", str(host))
    _, ids = store.load_pooled(wd / "results" / "features" / "yamnet.h5", "mean")
    assert sorted(ids) == sorted(sheet["video_id"])
