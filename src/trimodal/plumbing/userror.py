"""Stop a Snakemake run on a user's mistake (bad sheet, bad config) with one plain message.

Snakemake prints any exception raised while it parses the workflow with the file and line of
the rule file it came from and a ``File "...common.smk", line N`` traceback line (its
``format_exception_to_string``; there is no user-error exception, snakemake/snakemake#3214),
which reads as a bug in the workflow. A user's mistake is not one: the message alone is
printed to stderr and the process exits with status 1 before any job or lock exists.
"""

from __future__ import annotations

import sys
from typing import NoReturn


def fail(message: str) -> NoReturn:
    """Print `message` to stderr as one error and exit with status 1 (no traceback)."""
    print(f"Error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)
