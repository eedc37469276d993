"""The store stage: one extractor's per-video files merged into its feature store, with the
provenance of what produced it, and the one table of every failure."""

from __future__ import annotations

import json
import logging
from importlib import metadata
from pathlib import Path

import h5py
import pandas as pd

from trimodal import store
from trimodal.atomic import write_table
from trimodal.stages.extract import ABSENT

log = logging.getLogger("trimodal")

#: libraries whose versions can change a store's numbers (recorded when installed)
PACKAGES = (
    "trimodal",
    "numpy",
    "h5py",
    "av",
    "decord",
    "torch",
    "transformers",
    "sentence-transformers",
    "onnxruntime",
    "ultralytics",
    "faster-whisper",
    "ctranslate2",
    "librosa",
    "efficientnet-lite-pytorch",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _weights_of(files: list[str]) -> dict[str, str]:
    """Weights path and fingerprint from the first per-video file that computed features."""
    for f in sorted(files):
        with h5py.File(f, "r") as h5:
            if h5.attrs.get("ok"):
                return {k: str(h5.attrs.get(k, "")) for k in ("model_path", "model_fingerprint")}
    return {"model_path": "", "model_fingerprint": ""}


def provenance(extractor: str, spec: dict, files: list[str], code: str = "") -> dict:
    """What produced a store: model id, weights fingerprint, params, code hash, packages."""
    weights = _weights_of(files)
    return {
        "extractor": extractor,
        "kind": spec["kind"],
        "model": spec.get("model") or "",
        "weights_sha256": weights["model_fingerprint"],
        "weights_path": weights["model_path"],
        "params": spec.get("params", {}),
        "code": code,
        "packages": package_versions(),
    }


def aggregate_store(
    inputs: list[str], output: str, extractor: str, spec: dict, code: str = ""
) -> dict:
    header = {
        "extractor": extractor,
        "kind": spec["kind"],
        "modality": spec["modality"],
        "model": spec.get("model") or "",
        "params": spec.get("params", {}),
        "provenance": json.dumps(provenance(extractor, spec, inputs, code), sort_keys=True),
    }
    counts = store.aggregate(inputs, output, header=header)
    log.info("%s: %d videos, %d failed", extractor, counts["n_videos"], counts["n_failed"])
    return counts


def collect_failures(
    probe_jsons: list[str],
    stores: dict[str, str],
    output: str,
    sheet_flags: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One table of everything that failed or was flagged: sheet flags (e.g. a description
    that was not valid UTF-8), probe problems and each extractor's error records."""
    rows = []
    if sheet_flags is not None:
        for r in sheet_flags.itertuples(index=False):
            rows.append((r.video_id, "sheet", f"line {r.line}", r.flag))
    for path in probe_jsons:
        info = json.loads(Path(path).read_text())
        for media in ("video", "ad_audio"):
            p = info.get(media)
            if p and not p.get("ok"):
                stage = p.get("stage", "probe")  # missing (absent file), span (segment)
                rows.append((info["video_id"], stage, media, p.get("reason", "")))
    for extractor, path in sorted(stores.items()):
        for r in store.load_failures(path).itertuples(index=False):
            if r.stage != ABSENT:  # a missing optional input is a coverage gap, not a failure
                rows.append((r.video_id, r.stage, extractor, r.reason))
    df = pd.DataFrame(rows, columns=["video_id", "stage", "where", "reason"])
    df = df.sort_values(["video_id", "stage", "where"], kind="stable")
    write_table(output, df, sep="\t", index=False)
    return df
