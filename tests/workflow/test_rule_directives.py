"""Every rule that runs a job keeps Snakemake's per-job records: a `log:` and a `benchmark:`
(the benchmark files are where docs/benchmarks.md takes its CPU sums from)."""

from __future__ import annotations

import re

from tests.workflow_project import ROOT

#: a rule's name (none for the rules a loop makes, e.g. extract_<name>) and its body
RULE = re.compile(r"^\s*rule(?: (\w+))?:\n(.*?)(?=^\s*rule(?: \w+)?:|\Z)", re.S | re.M)


def rules() -> dict[str, str]:
    found = {}
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        for m in RULE.finditer(text):
            line = text[: m.start(2)].count("\n")
            found[m[1] or f"{path.name}:{line}"] = m[2]
    return found


def test_every_job_rule_has_a_log_and_a_benchmark():
    bodies = rules()
    assert {"probe", "store", "classify", "fuse", "explorer"} <= set(bodies)  # the parse works
    jobs = {name: body for name, body in bodies.items() if name != "all"}
    missing = {n: [d for d in ("log:", "benchmark:") if d not in b] for n, b in jobs.items()}
    assert {n: m for n, m in missing.items() if m} == {}
