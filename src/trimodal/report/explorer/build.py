"""Build the results explorer: a static folder (index.html, assets/, data/, thumbs/) that a
browser opens from the file system, with no server and no network.

Everything it shows is read from what the workflow wrote: the sheet (label, description),
the label sets, the feature stores (transcripts, YOLO objects, YAMNet sound classes and their
times), the out-of-fold predictions of every classifier and fusion, the cross-modal rankings
per query, failures.tsv and the thumbnail strips.

Scale: data/index.js holds what the list, the filters and the confusion matrices need for
every video (ids, labels, each result row's predicted class: a few bytes a video per row);
everything else of a video lies in data/chunk_NNNNN.js with CHUNK_SIZE videos each, loaded
by a <script> tag when a video of that chunk is opened (fetch() of a local file is refused
under file://). Data files are JavaScript calls whose JSON argument has <, >, & and the line
separators escaped, so no text of the data can end the script or become markup; the page
builds its DOM with textContent only.
"""

from __future__ import annotations

import html
import json
import logging
import os
import shutil
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trimodal.plumbing.atomic import write_text

log = logging.getLogger("trimodal")

#: videos per data chunk (one <script> file each)
CHUNK_SIZE = 500
#: times listed per YOLO class in a video
MAX_TIMES = 12
ASSETS = ("index.html", "explorer.js", "explorer.css")
#: videos up to which the single-file edition (report.html, for `snakemake --report`) embeds
#: everything, thumbnails included; above, it says where the explorer is
REPORT_MAX_VIDEOS = 1000
#: failures.tsv stages that are warnings (features kept), not failures
WARNING_STAGES = {"partial_decode"}


def safe_json(value: Any) -> str:
    """JSON that is inert inside any HTML or script context: <, >, & and U+2028/9 escaped
    (it parses back to the same value), so no text of the data can close a <script>."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def encode_ints(values: list[int]) -> str | list[int]:
    """Small integers (>= -1: a class index, -1 for none) as one character each, chr(48 + v)
    (half the bytes of a JSON list, the page decodes it once); a list when one is too large
    for a single UTF-16 unit."""
    if values and (min(values) < -1 or max(values) >= 50000):
        return list(values)
    return "".join(chr(48 + v) for v in values)


def decode_ints(value: str | list[int]) -> list[int]:
    return list(value) if isinstance(value, list) else [ord(c) - 48 for c in value]


def js_call(function: str, *args: Any) -> str:
    """``function(arg, ...);`` with each argument as :func:`safe_json`."""
    return f"{function}({','.join(safe_json(a) for a in args)});\n"


def _num(x: Any, digits: int = 3) -> float | None:
    """A float rounded for the page, None for NaN."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if not np.isfinite(v) else round(v, digits)


# --------------------------------------------------------------------------- readers


def read_sheet(sheet: str | dict | pd.DataFrame) -> pd.DataFrame:
    """The rows the page shows (label, description), by video id: a sheet file, or the
    workflow's values {video_id: [label, description]} (its rule reads no file for them)."""
    if isinstance(sheet, pd.DataFrame):
        return sheet
    if isinstance(sheet, dict):
        return pd.DataFrame.from_dict(
            {str(k): list(v) for k, v in sheet.items()},
            orient="index",
            columns=["label", "description"],
            dtype=object,
        )
    from trimodal.corpus.sheet import load_sheet

    return load_sheet(sheet, check_files=False, missing_media="skip")


def read_results(paths: list[str]) -> list[tuple[str, Any]]:
    """(path, CVResult) of each out-of-fold result file."""
    from trimodal.learn.results import CVResult

    return [(p, CVResult.from_h5(p)) for p in sorted(paths)]


def result_name(r) -> str:
    if r.kind == "single":
        return f"{r.feature_set} / {r.classifier}"
    return f"{r.kind}: {r.feature_set} / {r.classifier}"


def store_details(stores: list[str], ids: set[str]) -> dict[str, dict[str, list]]:
    """video id -> {"texts": [...], "objects": [...], "sounds": [...]} from the stores whose
    extractor kind has something to show (whisper, yolo, yamnet)."""
    from trimodal.store import features as fstore

    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(stores):
        attrs = fstore.store_attrs(path)
        kind, name = str(attrs.get("kind", "")), str(attrs.get("extractor") or Path(path).stem)
        params = attrs.get("params") if isinstance(attrs.get("params"), dict) else {}
        try:
            if kind == "whisper":
                source = params.get("source", "")
                title = "AD transcript" if source == "ad_audio" else f"transcript ({source})"
                for vid, text in fstore.load_text(path).items():
                    if vid in ids:
                        out[vid]["texts"].append({"from": name, "title": title, "text": text})
            elif kind == "yolo":
                _objects(path, name, ids, out)
            elif kind == "yamnet":
                _sounds(path, name, ids, out)
        except (KeyError, OSError) as e:  # a store without that table: nothing to show
            log.warning("%s: %s", path, e)
    return out


def _objects(path: str, name: str, ids: set[str], out) -> None:
    """Per video and class: detections, highest confidence and the (first) times seen."""
    from trimodal.store import features as fstore

    det = fstore.load_table(path, "detections")
    per: dict[str, dict[str, list]] = defaultdict(dict)
    for vid, cls, t, conf in zip(
        det["video_id"].tolist(),
        det["class_name"].tolist(),
        det["time"].astype(float).tolist(),
        det["confidence"].astype(float).tolist(),
        strict=True,
    ):
        if vid in ids:
            acc = per[vid].setdefault(str(cls), [0, 0.0, set()])
            acc[0] += 1
            acc[1] = max(acc[1], conf)
            acc[2].add(round(t, 2))
    for vid, classes in per.items():
        rows = []
        for cls, (count, conf, times) in classes.items():
            times = sorted(times)
            rows.append(
                {
                    "name": cls,
                    "n": count,
                    "max_conf": _num(conf, 2),
                    "times": times[:MAX_TIMES],
                    "more": max(0, len(times) - MAX_TIMES),
                }
            )
        rows.sort(key=lambda r: -r["n"])
        out[vid]["objects"].append({"from": name, "classes": rows})


def _sounds(path: str, name: str, ids: set[str], out) -> None:
    """The top classes of each video (the extractor's own table) with the time of each
    class's highest-scoring window."""
    import h5py

    from trimodal.store import features as fstore

    top = fstore.load_table(path, "top").sort_values(["video_id", "rank"], kind="stable")
    per: dict[str, list] = defaultdict(list)
    for vid, index, cls, mean, mx in zip(
        top["video_id"].tolist(),
        top["index"].astype(int).tolist(),
        top["name"].tolist(),
        top["mean_score"].tolist(),
        top["max_score"].tolist(),
        strict=True,
    ):
        if vid in ids:
            per[vid].append((index, {"name": str(cls), "mean": _num(mean), "max": _num(mx)}))
    with h5py.File(path, "r") as h5:
        windows = h5.get("windows")
        for vid, rows in per.items():
            w = windows.get(vid) if windows is not None else None
            values = w["values"][()] if w is not None else None
            times = w["times"][()] if w is not None else None
            for index, row in rows:
                ok = values is not None and len(values) and index < values.shape[1]
                row["peak_s"] = _num(times[int(np.argmax(values[:, index])), 0], 2) if ok else None
            out[vid]["sounds"].append({"from": name, "classes": [r for _, r in rows]})


def read_failures(path: str | None) -> dict[str, list[dict]]:
    if not path or not os.path.exists(path):
        return {}
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    out: dict[str, list[dict]] = defaultdict(list)
    for r in df.itertuples(index=False):
        out[r.video_id].append({"stage": r.stage, "where": r.where, "reason": r.reason})
    return out


def read_thumbs(dirs: list[str]) -> dict[str, dict]:
    """video id -> {"path": file} or {"error": reason}, from the thumbnail batches."""
    out: dict[str, dict] = {}
    for d in dirs:
        index = json.loads((Path(d) / "index.json").read_text())
        for vid, r in index.items():
            out[vid] = {"path": str(Path(d) / r["file"])} if "file" in r else dict(r)
    return out


def best_run(table: str | None, runs: list[str]) -> tuple[str, dict]:
    """The run (method/loss/ranking) with the best mean MRR in the pair's table, and its row."""
    if table and os.path.exists(table):
        df = pd.read_csv(table, sep="\t")
        if "mrr" in df and df["mrr"].notna().any():
            df = df[df["mrr"].notna()].sort_values("mrr", ascending=False, kind="stable")
            for r in df.to_dict("records"):
                key = f"{r['method']}/{r['loss']}/{r['ranking']}"
                if key in runs:
                    return key, r
    return (runs[0] if runs else ""), {}


# --------------------------------------------------------------------------- the page


def asset(name: str) -> str:
    return (resources.files("trimodal.report.explorer") / "assets" / name).read_text("utf-8")


def single_file(index: dict, chunks: list[dict] | None, out: Path, where: str) -> str:
    """The explorer as one self-contained HTML file (for the `--report` bundle): CSS and
    JavaScript inline, the index and every chunk as JSON elements (:func:`safe_json`), the
    thumbnails as data: URIs. chunks None (too many videos): a page saying where the
    explorer is."""
    import base64

    page = asset("index.html")
    css, js = asset("explorer.css"), asset("explorer.js")
    assert "</style" not in css and "</script" not in js
    page = page.replace(
        '<link rel="stylesheet" href="assets/explorer.css">', f"<style>{css}</style>"
    )
    if chunks is None:
        note = (
            f"<p>{index['n_videos']} videos: too many to embed in the report. "
            f"Open {html.escape(where)}/index.html in a browser (no server needed).</p>"
        )
        return f'<!doctype html><html><head><meta charset="utf-8"><title>trimodal explorer</title></head><body>{note}</body></html>\n'
    index = dict(index)
    data = []
    for i, (vid, has) in enumerate(zip(index["ids"], decode_ints(index["thumb"]), strict=True)):
        f = out / "thumbs" / f"c{i // index['chunk_size']:05d}" / f"{vid}.jpg"
        uri = "data:image/jpeg;base64," + base64.b64encode(f.read_bytes()).decode() if has else ""
        data.append(uri)
    index["thumb_data"] = data
    blocks = [f'<script type="application/json" id="explorer-index">{safe_json(index)}</script>']
    blocks += [
        f'<script type="application/json" id="chunk-{c:05d}">{safe_json(v)}</script>'
        for c, v in enumerate(chunks)
    ]
    scripts = '<script src="assets/explorer.js"></script>\n<script src="data/index.js"></script>'
    assert scripts in page
    return page.replace(scripts, "\n".join(blocks) + f"\n<script>{js}</script>")


def _link(src: str, dst: Path) -> None:
    """dst as a hard link of src (no copy of 100,000 JPEGs), or a copy across filesystems."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def clear_output(out: Path) -> None:
    """Remove what an earlier build wrote (assets/, data/, thumbs/) and make data/ again."""
    for sub in ("assets", "data", "thumbs"):
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / "data").mkdir(parents=True)


def read_label_sets(
    labels: list[str], ids: list[str], pos: dict[str, int]
) -> tuple[dict[str, dict], dict[str, dict[str, str]]]:
    """Each label set's class list and every video's class (-1: not in the set), and
    video id -> {label set: label}."""
    label_sets: dict[str, dict] = {}
    label_of: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(labels):
        name = Path(path).name.removesuffix(".tsv")
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        df = df[df["label"] != ""]
        classes = sorted(set(df["label"]))
        cix = {c: k for k, c in enumerate(classes)}
        y = [-1] * len(ids)
        for vid, lab in zip(df["video_id"], df["label"], strict=True):
            if vid in pos:
                y[pos[vid]] = cix[lab]
                label_of[vid][name] = lab
        label_sets[name] = {"classes": classes, "y": y}
    return label_sets, label_of


def result_predictions(
    r, classes: list[str], ids: list[str], pos: dict[str, int]
) -> tuple[list[int], dict[str, list]]:
    """A result's predicted class of every video (index into classes, which it extends with
    classes only predicted) and, per video, [p(predicted), p(true), fold]."""
    pred = [-1] * len(ids)
    p_of: dict[str, list] = {}
    if r.evaluated and len(r.ids):
        col = {str(c): k for k, c in enumerate(r.classes)}
        for k, vid in enumerate(map(str, r.ids)):
            if vid not in pos:
                continue
            yp, yt = str(r.y_pred[k]), str(r.y_true[k])
            if yp not in classes:
                classes.append(yp)
            pred[pos[vid]] = classes.index(yp)
            p = r.proba[k] if r.proba.size else None
            p_of[vid] = [
                _num(p[col[yp]]) if p is not None and yp in col else None,
                _num(p[col[yt]]) if p is not None and yt in col else None,
                int(r.fold[k]),
            ]
    return pred, p_of


def result_row(path: str, r, pred: list[int]) -> dict[str, Any]:
    """The index's row of one result: its names, scores and predictions."""
    s = r.summary()
    return {
        "name": result_name(r),
        "label_set": r.label_set,
        "kind": r.kind,
        "modality": r.modality,
        "feature_set": r.feature_set,
        "classifier": r.classifier,
        "file": str(path),
        "balanced_accuracy": _num(s.get("balanced_accuracy_mean")),
        "accuracy": _num(s.get("accuracy_mean")),
        "n": int(len(r.ids)),
        "not_evaluated": r.not_evaluated,
        "pred": pred,
    }


def read_result_rows(
    results: list[str], label_sets: dict[str, dict], ids: list[str], pos: dict[str, int]
) -> tuple[list[dict], list[dict[str, list]]]:
    """The row of every result file and its per-video probabilities (label_sets gains the
    label sets and classes that only results name)."""
    rows, probs = [], []
    for path, r in read_results(results):
        ls = label_sets.setdefault(r.label_set, {"classes": [], "y": [-1] * len(ids)})
        pred, p_of = result_predictions(r, ls["classes"], ids, pos)
        rows.append(result_row(path, r, pred))
        probs.append(p_of)
    return rows, probs


def read_retrieval(
    rankings: list[str], crossmodal_tables: list[str], pos: dict[str, int]
) -> tuple[list[dict], list[dict[str, list]]]:
    """Each cross-modal pair's summary and its best run's [rank, top-k positions] per query."""
    from trimodal.crossmodal.rankings import read_rankings

    tables = {Path(t).name.removesuffix(".tsv"): t for t in crossmodal_tables}
    pairs, retrieval = [], []
    for path in sorted(rankings):
        stem = Path(path).name.removesuffix(".ranks.h5")
        runs = read_rankings(path)
        key, row = best_run(tables.get(stem), sorted(runs))
        if not key:
            continue
        run = runs[key]
        per_query = {}
        for q, top, rank in zip(run["query"], run["top"], run["rank"], strict=True):
            if q in pos:
                per_query[str(q)] = [int(rank), [pos.get(t, -1) for t in top if t]]
        source, target = stem.split("__", 1)
        pairs.append(
            {
                "name": f"{source} → {target}",
                "source": source,
                "target": target,
                "run": key,
                "mrr": _num(row.get("mrr")),
                "r10": _num(row.get("R@10")),
                "chance_mrr": _num(row.get("chance_mrr")),
                "queries": [pos[q] for q in per_query],
            }
        )
        retrieval.append(per_query)
    return pairs, retrieval


def link_thumbs(
    thumb: dict[str, dict], ids: list[str], chunk_of: list[int], out: Path
) -> list[int]:
    """Link each video's thumbnail strip under thumbs/cNNNNN/; 1 per video that has one."""
    has_thumb = [0] * len(ids)
    for i, vid in enumerate(ids):
        t = thumb.get(vid, {})
        if "path" in t:
            _link(t["path"], out / "thumbs" / f"c{chunk_of[i]:05d}" / f"{vid}.jpg")
            has_thumb[i] = 1
    return has_thumb


def is_warning(failure: dict) -> bool:
    return failure["stage"] in WARNING_STAGES


def video_entry(
    vid: str,
    description: str,
    *,
    label_of: dict,
    details: dict,
    fails: dict,
    thumb: dict,
    probs: list[dict],
    retrieval: list[dict],
) -> dict[str, Any]:
    """Everything a chunk holds of one video (what the page shows when it is opened)."""
    d = details.get(vid, {})
    fl = fails.get(vid, [])
    return {
        "description": description,
        "labels": label_of.get(vid, {}),
        "texts": d.get("texts", []),
        "objects": d.get("objects", []),
        "sounds": d.get("sounds", []),
        "preds": [p.get(vid) for p in probs],
        "failures": [f for f in fl if not is_warning(f)],
        "warnings": [f for f in fl if is_warning(f)],
        "thumb_error": thumb.get(vid, {}).get("error", ""),
        "retrieval": [r.get(vid) for r in retrieval],
    }


def write_assets(out: Path) -> None:
    """index.html and assets/ (the page's CSS and JavaScript)."""
    (out / "assets").mkdir()
    for name in ASSETS:
        text = asset(name)
        write_text(out / ("index.html" if name == "index.html" else f"assets/{name}"), text)


def build_explorer(
    out_dir: str | Path,
    *,
    sheet: str | dict | pd.DataFrame,
    labels: list[str],
    results: list[str],
    stores: list[str] = (),
    failures: str | None = None,
    crossmodal_tables: list[str] = (),
    rankings: list[str] = (),
    thumbs: list[str] = (),
    chunk_size: int = CHUNK_SIZE,
    title: str = "trimodal explorer",
    report_html: str | Path | None = None,
) -> dict[str, Any]:
    """Write the explorer into out_dir (index.html, assets/, data/, thumbs/, replacing them)
    and, when given, its single-file edition `report_html`; returns counts (videos, chunks,
    bytes)."""
    out = Path(out_dir)
    clear_output(out)
    sheet_df = read_sheet(sheet)
    ids = [str(v) for v in sheet_df.index]
    pos = {v: i for i, v in enumerate(ids)}
    chunk_of = [i // chunk_size for i in range(len(ids))]

    label_sets, label_of = read_label_sets(labels, ids, pos)
    rows, probs = read_result_rows(results, label_sets, ids, pos)
    pairs, retrieval = read_retrieval(rankings, crossmodal_tables, pos)
    details = store_details(list(stores), set(ids))
    fails = read_failures(failures)
    thumb = read_thumbs(list(thumbs))
    has_thumb = link_thumbs(thumb, ids, chunk_of, out)
    n_fail = [sum(not is_warning(f) for f in fails.get(v, ())) for v in ids]
    n_warn = [sum(is_warning(f) for f in fails.get(v, ())) for v in ids]

    index = {
        "title": title,
        "n_videos": len(ids),
        "chunk_size": chunk_size,
        "ids": ids,
        "sheet_label": [str(x) for x in sheet_df["label"]],
        # per video, one character each (encode_ints): what the list and filters need
        "thumb": encode_ints(has_thumb),
        "n_fail": encode_ints(n_fail),
        "n_warn": encode_ints(n_warn),
        "label_sets": {k: {**v, "y": encode_ints(v["y"])} for k, v in label_sets.items()},
        "results": [{**r, "pred": encode_ints(r["pred"])} for r in rows],
        "pairs": pairs,
    }
    write_text(out / "data" / "index.js", js_call("EXPLORER.index", index))
    n_chunks = (len(ids) + chunk_size - 1) // chunk_size
    descriptions = [str(x) for x in sheet_df["description"]]
    inline = [] if report_html and len(ids) <= REPORT_MAX_VIDEOS else None
    for c in range(n_chunks):
        videos = {
            ids[i]: video_entry(
                ids[i],
                descriptions[i],
                label_of=label_of,
                details=details,
                fails=fails,
                thumb=thumb,
                probs=probs,
                retrieval=retrieval,
            )
            for i in range(c * chunk_size, min(len(ids), (c + 1) * chunk_size))
        }
        write_text(out / "data" / f"chunk_{c:05d}.js", js_call("EXPLORER.chunk", c, videos))
        if inline is not None:
            inline.append(videos)
    write_assets(out)
    if report_html:
        write_text(report_html, single_file(index, inline, out, str(out)))
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    log.info("explorer: %d videos, %d chunks, %.1f MB in %s", len(ids), n_chunks, size / 1e6, out)
    return {"n_videos": len(ids), "n_chunks": n_chunks, "bytes": size}
