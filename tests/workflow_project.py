"""A small real project in a temporary folder, run with the repository's Snakefile.

Used by the workflow tests: a handful of demo-corpus videos (real media) plus bad inputs, a
config with cheap extractors, and helpers to run `snakemake` and read which jobs a dry run
would execute.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

SMALL_EXTRACTORS = {
    "effnet": {
        "kind": "frame_embedding",
        "modality": "video",
        "model": "efficientnet-lite0",
        "params": {"fps": 1.0, "max_frames": 8, "batch_size": 8, "image_size": 224},
    },
    "yamnet": {
        "kind": "yamnet",
        "modality": "audio",
        "model": "packaged:yamnet-int8-onnx",
        "params": {"source": "soundtrack", "top_k": 5},
    },
    "sbert_desc": {
        "kind": "sbert",
        "modality": "text",
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "params": {"sources": ["description"], "batch_size": 16},
    },
}


def per_video(extractors: dict | None = None) -> dict:
    """The same extractors with `batch: 1` (one job per video, the pre-batching layout)."""
    out = {name: dict(spec) for name, spec in (extractors or SMALL_EXTRACTORS).items()}
    for spec in out.values():
        spec["batch"] = 1
    return out


def demo_sheet() -> pd.DataFrame:
    path = ROOT / "config" / "videos.tsv"
    if not path.exists():
        import pytest

        pytest.skip("demo corpus not built: run `make corpus`")
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def small_sheet(per_label: int = 2, extra_ids=("bad_truncated", "bad_noaudio")) -> pd.DataFrame:
    """per_label labelled clips per class, plus the named unlabelled bad-input rows."""
    df = demo_sheet()
    labelled = df[df["label"] != ""].sort_values("video_id").groupby("label").head(per_label)
    extra = df[df["video_id"].isin(extra_ids)]
    out = pd.concat([labelled, extra], ignore_index=True)
    for col in ("video", "ad_audio"):
        out[col] = [str((ROOT / p).resolve()) if p else "" for p in out[col]]
    return out


def make_project(
    workdir: Path,
    sheet: pd.DataFrame,
    extractors: dict | None = None,
    feature_sets=("sbert_desc:mean", "yamnet:mean", "effnet:mean"),
    copy_workflow: bool = False,
    probe_batch: int | str | None = None,
) -> Path:
    """Write config/ into workdir (and, when asked, a private copy of the workflow code)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config").mkdir(exist_ok=True)
    sheet.to_csv(workdir / "config" / "videos.tsv", sep="\t", index=False)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["extractors"] = extractors or SMALL_EXTRACTORS
    config["text_sources"] = {}
    config["labels"]["sets"] = {"youtube": {"from": "label", "min_count": 2}}
    config["classify"] = {
        "label_sets": ["youtube"],
        "feature_sets": list(feature_sets),
        "classifiers": ["ovr_linear_svc"],
        "cv": {"folds": 2, "seed": 0},
    }
    config["model_cache"] = str(ROOT / "resources" / "models")
    if probe_batch is not None:
        config.setdefault("probe", {})["batch"] = probe_batch
    for key in ("fusion", "crossmodal"):
        config.pop(key, None)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if copy_workflow:
        (workdir / "wf").mkdir(exist_ok=True)
        for name in ("Snakefile", "workflow", "src", "profiles", "envs"):
            src = ROOT / name
            (shutil.copytree if src.is_dir() else shutil.copy)(
                src,
                workdir / "wf" / name,
                **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}),
            )
    return workdir


def snakemake(workdir: Path, *args: str, timeout: int = 900, check: bool = True, env=None):
    wf = workdir / "wf" if (workdir / "wf").exists() else ROOT
    environ = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "YOLO_OFFLINE": "1",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        **(env or {}),
    }
    environ = {k: v for k, v in environ.items() if v is not None}  # env={"X": None} unsets X
    if wf != ROOT:  # the private copy's code (after any path the caller puts first)
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in ((env or {}).get("PYTHONPATH"), str(wf / "src")) if p
        )
    cmd = [
        str(BIN / "snakemake"),
        "--snakefile",
        str(wf / "Snakefile"),
        "--directory",
        str(workdir),
        "--profile",
        str(wf / "profiles" / "default"),
        "--cores",
        "2",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=environ)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def extract_counts(workdir: Path, extractor: str) -> dict[str, int]:
    """Videos computed / reused / error records, summed over the extractor's batch logs."""
    counts = {"computed": 0, "reused": 0, "errors": 0}
    for log in (workdir / "logs" / "extract" / extractor / "batches").glob("*.log"):
        m = re.search(r"(\d+) computed, (\d+) reused, (\d+) error records", log.read_text())
        if m:
            for key, value in zip(counts, m.groups(), strict=True):
                counts[key] += int(value)
    return counts


def planned_jobs(workdir: Path, *args: str, env=None) -> dict[str, int]:
    """rule -> number of jobs a dry run would execute (empty when nothing to do)."""
    proc = snakemake(workdir, "--dry-run", *args, env=env)
    return job_stats(proc.stdout + proc.stderr)


def job_stats(text: str) -> dict[str, int]:
    """rule -> jobs, from a dry run's "Job stats" table (empty when nothing to do)."""
    jobs: dict[str, int] = {}
    m = re.search(r"Job stats:\n(.*?)\n\s*\n", text, flags=re.S)
    if not m:
        return jobs
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def store_items(path: Path) -> dict:
    out = {}
    with h5py.File(path) as h5:
        h5.visititems(
            lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None
        )
        out["@attrs"] = {k: v for k, v in h5.attrs.items()}
    return out


def _attrs(attrs: dict, same_code: bool, ignore: tuple[str, ...] = ()) -> dict:
    out = {k: str(v) for k, v in attrs.items()}
    if (not same_code or ignore) and "provenance" in attrs:  # all of it but the code hashes
        prov = json.loads(attrs["provenance"])
        for key in ignore + (() if same_code else ("code", "store_code")):
            prov.pop(key, None)
        out["provenance"] = json.dumps(prov, sort_keys=True)
    return out


def assert_same_store(
    a: Path,
    b: Path,
    exact: bool = False,
    same_code: bool = True,
    ignore_provenance: tuple[str, ...] = (),
) -> None:
    """Same datasets with the same values (floats to 1e-5 unless exact) and the same attributes;
    same_code=False: stores of other code, whose provenance differs in its code hashes only;
    ignore_provenance: further provenance fields left out (e.g. "packages", when what records
    them changed)."""
    da, db = store_items(a), store_items(b)
    assert sorted(da) == sorted(db), (a, b)
    for key in sorted(da, key=lambda k: k == "@attrs"):  # the datasets first, then attributes
        va, vb = da[key], db[key]
        if key == "@attrs":
            ignore = tuple(ignore_provenance)
            assert _attrs(va, same_code, ignore) == _attrs(vb, same_code, ignore), key
        elif isinstance(va, np.ndarray) and va.dtype.kind == "f" and not exact:
            np.testing.assert_allclose(va, vb, rtol=1e-5, atol=1e-6, err_msg=f"{a}: {key}")
        else:
            assert np.array_equal(np.asarray(va), np.asarray(vb)), f"{a}: {key}"


def perturbed(wd: Path, cfg: dict, change, *args: str, env=None):
    """Dry run of the project with `change(config)` applied: (planned jobs, dry-run text)."""
    path = wd / "config" / "config.yaml"
    new = copy.deepcopy(cfg)
    change(new)
    path.write_text(yaml.safe_dump(new, sort_keys=False))
    try:
        proc = snakemake(wd, "--dry-run", *args, check=False, env=env)
        text = proc.stdout + proc.stderr
        assert proc.returncode == 0, text[-5000:]
        return job_stats(text), text
    finally:
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def at(*path, value):
    """A change that sets `config[path...] = value`."""

    def change(cfg):
        node = cfg
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value

    return change


def patch(*path, **values):
    """A change that updates the mapping at `config[path...]` with `values`."""

    def change(cfg):
        node = cfg
        for k in path:
            node = node[k]
        node.update(values)

    return change
