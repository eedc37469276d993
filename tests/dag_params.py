"""Every planned job's rule, params and resources as JSON, from Snakemake's own DAG (not a
re-implementation): ``python tests/dag_params.py <workdir> <snakefile> [KEY=VALUE config...]``.

Run in its own process (Snakemake keeps global state); used by tests/workflow/test_plan_workflow.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings,
    DAGSettings,
    OutputSettings,
    ResourceSettings,
)


def plain(value):
    """A param value as JSON (callables of resources are evaluated by Snakemake already)."""
    return json.loads(json.dumps(value, default=str))


def main(workdir: str, snakefile: str, *config: str) -> None:
    overwrite = dict(c.split("=", 1) for c in config)
    with SnakemakeApi(OutputSettings(quiet=None)) as api:
        wf_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(config=overwrite),
            snakefile=Path(snakefile),
            workdir=Path(workdir),
        )
        wf_api.dag(dag_settings=DAGSettings())  # sets the workflow's DAG settings
        wf = wf_api._workflow
        wf._prepare_dag(forceall=False, ignore_incomplete=False, lock_warn_only=False, nolock=True)
        wf._build_dag()
        jobs = [
            {
                "rule": job.rule.name,
                "output": [str(f) for f in job.output],
                "input": [str(f) for f in job.input],
                "params": {k: plain(v) for k, v in job.params.items()},
                "resources": {k: plain(v) for k, v in job.resources.items()},
            }
            for job in wf.dag.jobs
        ]
    print("JOBS-JSON " + json.dumps(jobs))


if __name__ == "__main__":
    main(*sys.argv[1:])
