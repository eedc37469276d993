"""Per-video feature files and the per-extractor HDF5 feature store.

Per-video file (`results/extract/{extractor}/{video_id}.h5`), written by one extract job:
    attrs: video_id, ok, stage, reason (when not ok), extractor, kind, modality,
           model / params (JSON), and the extractor's per-video attrs under `meta_*`
    windows/values (n, d) float32, windows/times (n, 2) float64     (when the extractor has windows)
    pooled/{name} (d,) float32
    text (scalar str)                                               (when the extractor has text)
    tables/{name}/{column} (n,)

Store (`results/features/{extractor}.h5`), written by the one aggregation job of that extractor:
    attrs: extractor, kind, modality, model, params (JSON), n_videos, n_failed
    video_ids (n_ok,) str               index shared by every pooled dataset and text
    pooled/{name} (n_ok, d) float32
    text (n_ok,) str                    (when the extractor has text)
    windows/{video_id}/values, windows/{video_id}/times
    tables/{name}/{column}              concatenated, with a `video_id` column
    meta/{key} (n_ok,)                  per-video attrs
    failures/video_id, failures/stage, failures/reason   (n_failed,) str

Every write goes through trimodal.plumbing.atomic (a temporary name in the same folder, renamed into
place), so a reader (or a killed job) never sees a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from trimodal.domain import Features
from trimodal.plumbing.atomic import atomic_h5
from trimodal.plumbing.progress import progress

STR = h5py.string_dtype(encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), default=str)
    if value is None:
        return ""
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def _set_attrs(obj, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        obj.attrs[key] = _jsonable(value)


def _write_table(group: h5py.Group, table: pd.DataFrame) -> None:
    group.attrs["columns"] = json.dumps([str(c) for c in table.columns])
    for col in table.columns:
        series = table[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            group.create_dataset(col, data=series.to_numpy())
        else:
            values = np.array(["" if pd.isna(v) else str(v) for v in series], dtype=object)
            group.create_dataset(col, data=values, dtype=STR)


def _read_table(group: h5py.Group) -> pd.DataFrame:
    cols = {}
    order = json.loads(group.attrs.get("columns", "[]")) or list(group.keys())
    for col in order:
        ds = group[col]
        data = ds[()]
        if ds.dtype.kind == "O":
            data = ds.asstr()[()]
        cols[col] = data
    return pd.DataFrame(cols)


def write_video_file(
    path: str | os.PathLike,
    video_id: str,
    header: dict[str, Any],
    features: Features | None = None,
    error: tuple[str, str] | None = None,
) -> None:
    """Write one video's features, or its error record (stage, reason), atomically."""
    if (features is None) == (error is None):
        raise ValueError("give exactly one of features or error")
    with atomic_h5(path) as h5:
        _set_attrs(h5, header)
        h5.attrs["video_id"] = video_id
        h5.attrs["ok"] = error is None
        if error is not None:
            h5.attrs["stage"], h5.attrs["reason"] = error
            return
        if features.windows is not None:
            g = h5.create_group("windows")
            g.create_dataset("values", data=features.windows, compression="gzip")
            g.create_dataset("times", data=features.times)
        g = h5.create_group("pooled")
        for name, vec in features.pooled.items():
            g.create_dataset(name, data=vec)
        if features.text is not None:
            h5.create_dataset("text", data=features.text, dtype=STR)
        for name, table in features.tables.items():
            _write_table(h5.create_group(f"tables/{name}"), table)
        for key, value in features.attrs.items():
            h5.attrs[f"meta_{key}"] = _jsonable(value)


def read_video_file(path: str | os.PathLike) -> dict[str, Any]:
    """Everything in a per-video file, as plain Python/numpy objects (for tests and tools)."""
    with h5py.File(path, "r") as h5:
        out: dict[str, Any] = {"attrs": dict(h5.attrs)}
        if "windows" in h5:
            out["windows"] = h5["windows/values"][()]
            out["times"] = h5["windows/times"][()]
        out["pooled"] = {k: v[()] for k, v in h5.get("pooled", {}).items()}
        if "text" in h5:
            out["text"] = h5["text"].asstr()[()]
        out["tables"] = {k: _read_table(g) for k, g in h5.get("tables", {}).items()}
    return out


def aggregate(
    video_files: Iterable[str | os.PathLike],
    out_path: str | os.PathLike,
    header: dict[str, Any] | None = None,
    keep_windows: bool = True,
) -> dict[str, int]:
    """Merge per-video files into one store, streaming: one video in memory at a time.

    The first pass reads only attributes and shapes (cheap), so datasets are created at their
    final size; the second copies each video's arrays into place.
    """
    files = sorted({str(p) for p in video_files}, key=lambda p: Path(p).stem)
    ok_files, failures, pooled_shapes, has_text, first_attrs = [], [], {}, False, {}
    table_names: set[str] = set()
    meta_keys: dict[str, Any] = {}
    for f in files:
        with h5py.File(f, "r") as h5:
            if not first_attrs:
                first_attrs = dict(h5.attrs)
            vid = str(h5.attrs["video_id"])
            if not h5.attrs["ok"]:
                failures.append((vid, str(h5.attrs["stage"]), str(h5.attrs["reason"])))
                continue
            ok_files.append((vid, f))
            for name, ds in h5.get("pooled", {}).items():
                if pooled_shapes.setdefault(name, ds.shape) != ds.shape:
                    raise ValueError(
                        f"{f}: pooled/{name} has shape {ds.shape}, others {pooled_shapes[name]}"
                    )
            has_text |= "text" in h5
            table_names.update(h5.get("tables", {}).keys())
            for k, v in h5.attrs.items():
                if k.startswith("meta_"):
                    meta_keys.setdefault(k[5:], v)

    n = len(ok_files)
    attrs = {
        k: first_attrs[k]
        for k in ("extractor", "kind", "modality", "model", "params")
        if k in first_attrs
    }
    attrs.update(header or {})
    with atomic_h5(out_path) as out:
        _set_attrs(out, attrs)
        out.attrs["n_videos"] = n
        out.attrs["n_failed"] = len(failures)
        out.create_dataset("video_ids", data=[v for v, _ in ok_files], dtype=STR)
        pooled = {
            name: out.create_dataset(f"pooled/{name}", shape=(n, *shape), dtype="f4")
            for name, shape in pooled_shapes.items()
        }
        text = out.create_dataset("text", shape=(n,), dtype=STR) if has_text else None
        meta = {
            key: out.create_dataset(
                f"meta/{key}",
                shape=(n,),
                dtype=STR if isinstance(v, (str, bytes)) else np.asarray(v).dtype,
            )
            for key, v in meta_keys.items()
        }
        tables: dict[str, list[pd.DataFrame]] = {t: [] for t in table_names}
        for i, (vid, f) in enumerate(progress(ok_files, "aggregate", total=n, unit="video")):
            with h5py.File(f, "r") as h5:
                for name, ds in pooled.items():
                    ds[i] = h5[f"pooled/{name}"][()] if f"pooled/{name}" in h5 else np.nan
                if text is not None:
                    text[i] = h5["text"].asstr()[()] if "text" in h5 else ""
                for key, ds in meta.items():
                    value = h5.attrs.get(f"meta_{key}")
                    if value is not None:
                        ds[i] = value
                if keep_windows and "windows" in h5:
                    h5.copy(h5["windows"], out, name=f"windows/{vid}")
                for name in table_names:
                    if f"tables/{name}" in h5:
                        t = _read_table(h5[f"tables/{name}"])
                        t.insert(0, "video_id", vid)
                        tables[name].append(t)
        for name, parts in tables.items():
            # tables are small per video (detections, segments); concatenated once here
            _write_table(out.create_group(f"tables/{name}"), pd.concat(parts, ignore_index=True))
        g = out.create_group("failures")
        for j, col in enumerate(("video_id", "stage", "reason")):
            g.create_dataset(col, data=[row[j] for row in failures], dtype=STR)
    return {"n_videos": n, "n_failed": len(failures)}


# --------------------------------------------------------------------------- reader API


def store_attrs(path: str | os.PathLike) -> dict[str, Any]:
    with h5py.File(path, "r") as h5:
        attrs = dict(h5.attrs)
    for key in ("params", "model_info"):
        if isinstance(attrs.get(key), str) and attrs[key].startswith("{"):
            attrs[key] = json.loads(attrs[key])
    return attrs


def poolings(path: str | os.PathLike) -> list[str]:
    with h5py.File(path, "r") as h5:
        return sorted(h5.get("pooled", {}).keys())


def load_pooled(path: str | os.PathLike, pooling: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """(X, ids): the pooled matrix (n_videos, d) and the video ids of its rows."""
    with h5py.File(path, "r") as h5:
        if f"pooled/{pooling}" not in h5:
            raise KeyError(
                f"{path} has no pooling {pooling!r}; it has {sorted(h5.get('pooled', {}))}"
            )
        ids = h5["video_ids"].asstr()[()]
        return h5[f"pooled/{pooling}"][()], np.asarray(ids, dtype=object)


def load_text(path: str | os.PathLike) -> pd.Series:
    """The text output of an extractor, indexed by video id."""
    with h5py.File(path, "r") as h5:
        ids = h5["video_ids"].asstr()[()]
        text = h5["text"].asstr()[()] if "text" in h5 else [""] * len(ids)
    return pd.Series(list(text), index=pd.Index(list(ids), name="video_id"), dtype=object)


def load_windows(path: str | os.PathLike, video_id: str) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as h5:
        g = h5[f"windows/{video_id}"]
        return g["values"][()], g["times"][()]


def load_table(path: str | os.PathLike, name: str) -> pd.DataFrame:
    with h5py.File(path, "r") as h5:
        return _read_table(h5[f"tables/{name}"])


def load_meta(path: str | os.PathLike) -> pd.DataFrame:
    with h5py.File(path, "r") as h5:
        ids = h5["video_ids"].asstr()[()]
        cols = {
            k: (ds.asstr()[()] if ds.dtype.kind == "O" else ds[()])
            for k, ds in h5.get("meta", {}).items()
        }
    return pd.DataFrame(cols, index=pd.Index(list(ids), name="video_id"))


def load_partial(path: str | os.PathLike) -> pd.DataFrame:
    """The videos whose features come from a partial decode (a file that ends before its
    declared duration): video_id, duration_decoded, duration_declared (features kept)."""
    meta = load_meta(path)
    if "partial_decode" not in meta:
        return pd.DataFrame(columns=["video_id", "duration_decoded", "duration_declared"])
    part = meta[meta["partial_decode"].astype(bool)]
    return pd.DataFrame(
        {
            "video_id": part.index.astype(str),
            "duration_decoded": part.get("duration_decoded", np.nan),
            "duration_declared": part.get("duration_declared", np.nan),
        }
    ).reset_index(drop=True)


def load_failures(path: str | os.PathLike) -> pd.DataFrame:
    with h5py.File(path, "r") as h5:
        g = h5["failures"]
        return pd.DataFrame({c: g[c].asstr()[()] for c in ("video_id", "stage", "reason")})
