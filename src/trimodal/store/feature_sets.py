"""Feature sets: a store read as a classifier's input ("<extractor>:<pooling>"), and what
produced it (its provenance), for every stage that learns from stores."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from trimodal.domain import FeatureSet
from trimodal.store.features import load_pooled, load_text, store_attrs

#: the fields of a store's provenance, in the order results and reports show them
PROVENANCE_KEYS = ("extractor", "kind", "model", "weights_sha256", "params", "code", "packages")


class EmptyStore(ValueError):
    """The store holds no video (every video failed, or none has this input)."""


def feature_set_store(feature_set: str, features_dir: str | os.PathLike) -> Path:
    """The store file of a feature set."""
    return Path(FeatureSet.parse(feature_set).store(str(features_dir)))


def load_feature_set(feature_set: str, features_dir: str | os.PathLike = "results/features"):
    """(X, ids, modality) for "<extractor>:<pooling>"; ":text" gives a 1-D array of strings.

    A store without any video raises :class:`EmptyStore`.
    """
    pooling = FeatureSet.parse(feature_set).pooling
    path = feature_set_store(feature_set, features_dir)
    attrs = store_attrs(path)
    modality = str(attrs.get("modality", ""))
    if int(attrs.get("n_videos", 1)) == 0:
        raise EmptyStore(f"the store {path.name} holds no video")
    if pooling == "text":
        s = load_text(path)
        return np.asarray(s.to_numpy(), dtype=object), s.index.to_numpy(dtype=object), modality
    X, ids = load_pooled(path, pooling)
    return X, ids, modality


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """What produced a store: its `provenance` attribute (extractor, kind, model,
    weights_sha256, params, code, packages), plus `store` (the file name).

    A store written before stores carried provenance gives what it has (extractor, kind,
    model, params) and empty fields for the rest.
    """
    attrs = store_attrs(path)
    raw = attrs.get("provenance")
    if raw:
        prov = json.loads(raw) if isinstance(raw, (str, bytes)) else dict(raw)
    else:
        prov = {k: attrs.get(k, "") for k in ("extractor", "kind", "model")}
        prov.update(weights_sha256="", params=attrs.get("params", {}), code="", packages={})
    return {"store": Path(path).name, **{k: prov.get(k, "") for k in PROVENANCE_KEYS}, **prov}


def feature_set_provenance(feature_set: str, features_dir: str | os.PathLike) -> dict[str, Any]:
    """:func:`read_provenance` of a feature set's store."""
    return read_provenance(feature_set_store(feature_set, features_dir))


def feature_set_modality(feature_set: str, features_dir: str | os.PathLike) -> str:
    """The modality a feature set's store declares ("" when it declares none)."""
    return str(store_attrs(feature_set_store(feature_set, features_dir)).get("modality", ""))
