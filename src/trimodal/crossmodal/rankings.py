"""Per-query rankings of a cross-modal pair: for every test query, its top-k retrieved videos
and the rank of the true one (results/crossmodal/<pair>.ranks.h5), so that a reader can look at
which videos a description brings back, not only at the means over folds.

Layout: one group per run, named ``<method>/<loss>/<ranking>``, holding ``query`` (n,) str
(the query video ids), ``top`` (n, k) str (retrieved ids in rank order; "" past a fold's
size) and ``rank`` (n,) int (1-based rank of the query's own video among its test fold).
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from trimodal.plumbing.atomic import atomic_h5

STR = h5py.string_dtype(encoding="utf-8")


def write_rankings(path: str | os.PathLike, retrieved: dict) -> None:
    """Write what :func:`trimodal.crossmodal.evaluate.run_pairs` put into its `retrieved`."""
    with atomic_h5(path) as h5:
        for (source, target, method, loss, ranking), (query, top, rank) in retrieved.items():
            g = h5.create_group(f"{method}/{loss}/{ranking}")
            g.attrs["source"], g.attrs["target"] = source, target
            g.create_dataset("query", data=np.asarray(query, dtype=object), dtype=STR)
            g.create_dataset("top", data=np.asarray(top, dtype=object), dtype=STR)
            g.create_dataset("rank", data=np.asarray(rank, dtype=np.int64))


def read_rankings(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """``"<method>/<loss>/<ranking>"`` -> {query, top, rank} of a rankings file."""
    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as h5:

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and "query" in obj:
                out[name] = {
                    "query": obj["query"].asstr()[()],
                    "top": obj["top"].asstr()[()],
                    "rank": obj["rank"][()],
                }

        h5.visititems(visit)
    return out
