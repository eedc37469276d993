"""The fuse stage: one fusion evaluation of a registered kind (trimodal.fusion.kinds)."""

from __future__ import annotations

import logging
from typing import Any

from trimodal.fusion.kinds import FUSION_KINDS, FusionJob

log = logging.getLogger("trimodal")


def fuse_one(*, kind: str, output: str, cv: dict, **job: Any):
    """One fusion evaluation of a registered kind, written as a CV result to `output`."""
    if kind not in FUSION_KINDS:
        raise ValueError(f"unknown fusion kind {kind!r}; known: {sorted(FUSION_KINDS)}")
    from trimodal.learn.cv import protocol_folds

    run = FusionJob(folds=protocol_folds(cv), seed=int(cv.get("seed", 0)), **job)
    result = FUSION_KINDS[kind].run(run)
    result.to_h5(output)
    log.info("%s", result.summary())
    return result
