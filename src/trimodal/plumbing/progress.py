"""A progress bar for loops inside a job that can run for more than a few seconds.

Shown on a terminal only (tqdm disables itself when stderr is not a TTY, so logs and CI output
stay clean), and refreshed at most every 2 s.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T], desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    from tqdm import tqdm

    return iter(
        tqdm(items, desc=desc, total=total, unit=unit, mininterval=2.0, disable=None, leave=False)
    )
