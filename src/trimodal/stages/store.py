"""The store stage: one extractor's per-video files merged into its feature store, with the
provenance of what produced it, and the one table of every failure."""

from __future__ import annotations

import json
import logging
from importlib import metadata
from pathlib import Path

import h5py
import pandas as pd

from trimodal.plumbing.atomic import write_table
from trimodal.plumbing.batching import per_video_files
from trimodal.stages.extract import ABSENT
from trimodal.store import features as store
from trimodal.store import reuse

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


def _computed_by(files: list[str]) -> dict:
    """What the extract jobs recorded in the per-video files that computed features: weights
    path and fingerprint (the first such file), the extractor's code hash and the versions of
    the packages the jobs imported (several versions of one package, joined by ", ", when
    results were kept across versions)."""
    out = {"model_path": "", "model_fingerprint": "", "code": ""}
    codes, packages = set(), {}
    for f in sorted(files):
        with h5py.File(f, "r") as h5:
            if not h5.attrs.get("ok"):
                continue
            if not out["model_fingerprint"] and not out["model_path"]:
                out.update(
                    {k: str(h5.attrs.get(k, "")) for k in ("model_path", "model_fingerprint")}
                )
            codes.add(str(h5.attrs.get("code", "")))
            for name, version in json.loads(h5.attrs.get("packages", "{}")).items():
                packages.setdefault(name, set()).add(version)
    out["code"] = ", ".join(sorted(c for c in codes if c))
    out["packages"] = {k: ", ".join(sorted(v)) for k, v in sorted(packages.items())}
    return out


def provenance(
    extractor: str, spec: dict, files: list[str], code: str = "", across_versions: bool = False
) -> dict:
    """What produced a store: model id, weights fingerprint, params, the extractor's code hash
    and the packages its extract jobs imported (both as recorded by those jobs; `code` is the
    store job's own), and whether results were kept across package versions."""
    computed = _computed_by(files)
    out = {
        "extractor": extractor,
        "kind": spec["kind"],
        "model": spec.get("model") or "",
        "weights_sha256": computed["model_fingerprint"],
        "weights_path": computed["model_path"],
        "params": spec.get("params", {}),
        "code": computed["code"],
        "store_code": code,
        "packages": {"trimodal": package_versions().get("trimodal", ""), **computed["packages"]},
    }
    if across_versions:
        out["across_versions"] = True
    return out


def aggregate_store(
    inputs: list[str],
    output: str,
    extractor: str,
    spec: dict,
    code: str = "",
    across_versions: bool = False,
) -> dict:
    header = {
        "extractor": extractor,
        "kind": spec["kind"],
        "modality": spec["modality"],
        "model": spec.get("model") or "",
        "params": spec.get("params", {}),
        "provenance": json.dumps(
            provenance(extractor, spec, inputs, code, across_versions), sort_keys=True
        ),
    }
    counts = store.aggregate(inputs, output, header=header)
    log.info("%s: %d videos, %d failed", extractor, counts["n_videos"], counts["n_failed"])
    return counts


def store_extractor(
    inputs: list[str],
    videos: list[str],
    output: str,
    extractor: str,
    spec: dict,
    code: str = "",
    config: dict | None = None,
) -> dict:
    """The store rule's entry point: each video's file among the job's `inputs` (the file, or
    the batch folder holding it), merged by :func:`aggregate_store`; the `config`'s ``cache``
    section says whether results were kept across package versions."""
    return aggregate_store(
        per_video_files(inputs, videos, ".h5"),
        output,
        extractor,
        spec,
        code=code,
        across_versions=reuse.across_versions(config or {}),
    )


#: stage of a warning row in results/failures.tsv: the video decoded short of its declared
#: duration, its features are kept (partial_decode: error makes it an error record instead)
PARTIAL = "partial_decode"


def partial_warning(r) -> str:
    return (
        f"warning (features kept): decoded {r.duration_decoded:.2f} s of "
        f"{r.duration_declared:.2f} s declared"
    )


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
        for r in store.load_partial(path).itertuples(index=False):  # a warning: features kept
            rows.append((r.video_id, PARTIAL, extractor, partial_warning(r)))
    df = pd.DataFrame(rows, columns=["video_id", "stage", "where", "reason"])
    df = df.sort_values(["video_id", "stage", "where"], kind="stable")
    write_table(output, df, sep="\t", index=False)
    return df


def write_failures(
    probes: list[str],
    videos: list[str],
    stores: list[str],
    output: str,
    sheet_flags=(),
) -> pd.DataFrame:
    """The failures rule's entry point: each video's probe JSON among the job's `probes` (the
    file, or the batch folder holding it), the feature `stores` (named by their file's stem)
    and the sheet's flags ((video_id, flag, line) rows), as :func:`collect_failures`' table."""
    flags = pd.DataFrame(list(sheet_flags), columns=["video_id", "flag", "line"])
    return collect_failures(
        per_video_files(list(probes), list(videos), ".json"),
        {Path(p).stem: p for p in stores},
        output,
        sheet_flags=flags,
    )
