"""Rows of several feature blocks on the videos they all have: what early fusion concatenates
and what a cross-modal pair maps between (each block is a store's pooled vectors and ids)."""

from __future__ import annotations

import numpy as np


def common_rows(*blocks: tuple[np.ndarray, np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """The rows of each (X, ids) block restricted to the ids every block has, in the first
    block's order (ids compared as strings), and those ids."""
    common = set(map(str, blocks[0][1]))
    for _, ids in blocks[1:]:
        common &= set(map(str, ids))
    order = [str(i) for i in blocks[0][1] if str(i) in common]
    mats = []
    for X, ids in blocks:
        pos = {str(i): k for k, i in enumerate(ids)}
        mats.append(np.asarray(X)[[pos[i] for i in order]])
    return mats, np.asarray(order, dtype=object)
