"""Each job's `log:` file holds what the job said and, when it dies, why.

Without this a job that raises leaves an empty log: the traceback goes only to Snakemake's
stderr, lost among other jobs' output and gone once the terminal is closed. :func:`job_log`
wraps a script's body; it writes the traceback into the log file (not a second time to the
console, where Python prints it anyway) and re-raises, so the job still fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("trimodal")


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


def setup_logging(log_path: str | None) -> None:
    """INFO and up to stderr and, when given, to `log_path` (truncated: one run per log)."""
    console = logging.StreamHandler()
    console.addFilter(_not_file_only)
    handlers: list[logging.Handler] = [console]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )


@contextmanager
def job_log(log_path: str | None) -> Iterator[logging.Logger]:
    """Log to `log_path`; an exception escaping the body is logged there with its traceback,
    then re-raised (a clean ``sys.exit(0)`` is not an error and is not logged)."""
    setup_logging(log_path)
    try:
        yield log
    except BaseException as e:
        if not (isinstance(e, SystemExit) and e.code in (0, None)):
            log.error(
                "job failed: %s: %s", type(e).__name__, e, exc_info=True, extra={"file_only": True}
            )
        raise
