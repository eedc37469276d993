"""A job that dies leaves its exception and traceback in its `log:` file."""

import logging

import pandas as pd
import pytest

from tests.workflow_project import SMALL_EXTRACTORS, make_project, snakemake
from trimodal.plumbing.joblog import job_log


def broken_job(path):
    logging.getLogger("trimodal").info("reading %s", path)
    raise ValueError(f"cannot parse {path}")


def test_exception_in_job_is_logged_with_traceback_then_reraised(tmp_path, capfd):
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(ValueError, match="cannot parse x.h5"):
        with job_log(str(log)):
            broken_job("x.h5")
    text = log.read_text()
    assert "INFO reading x.h5" in text
    assert "ERROR job failed: ValueError: cannot parse x.h5" in text
    assert "Traceback (most recent call last)" in text and "in broken_job" in text
    # the console gets the job's messages, not a second copy of the traceback
    err = capfd.readouterr().err
    assert "reading x.h5" in err and "Traceback" not in err


def test_a_job_that_succeeds_logs_no_error(tmp_path):
    log = tmp_path / "job.log"
    with job_log(str(log)) as logger:
        logger.info("done")
    text = log.read_text()
    assert "INFO done" in text and "ERROR" not in text


@pytest.mark.parametrize("code, logged", [(0, False), (None, False), (3, True)])
def test_sys_exit_is_logged_only_when_it_is_a_failure(tmp_path, code, logged):
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit):
        with job_log(str(log)):
            raise SystemExit(code)
    assert ("job failed: SystemExit" in log.read_text()) == logged


def test_failed_workflow_job_has_its_traceback_in_its_log(tmp_path):
    """A real Snakemake job (the failures table, the cheapest) dies on a corrupt probe file."""
    wd = make_project(
        tmp_path,
        pd.DataFrame({"video_id": ["v1"], "video": ["a.mp4"], "label": ["x"]}),
        probe_batch=1,
    )
    (wd / "a.mp4").write_bytes(b"x")
    (wd / "results" / "probe").mkdir(parents=True)
    (wd / "results" / "probe" / "v1.json").write_text("not json")
    (wd / "results" / "features").mkdir()
    for extractor in SMALL_EXTRACTORS:  # empty stores: never read, the probe fails first
        (wd / "results" / "features" / f"{extractor}.h5").write_bytes(b"")
    proc = snakemake(
        wd, "results/failures.tsv", "--allowed-rules", "failures", check=False, timeout=300
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    text = (wd / "logs" / "failures.log").read_text()
    assert "ERROR job failed: JSONDecodeError" in text
    assert "Traceback (most recent call last)" in text and "in collect_failures" in text
