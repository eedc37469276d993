"""A synthetic results tree in the workflow's own formats (CVResult.to_h5, the cross-modal
rankings' writer, the stores' documented layout, thumbnail batches), for the
explorer's tests and its benchmark (bench/bench_explorer.py: 10,000 videos)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from trimodal.crossmodal.rankings import write_rankings
from trimodal.domain import Features
from trimodal.learn.results import CVResult

CLASSES = ["animals", "instrument", "toys"]
#: a label that is markup: the page must show it as text
EVIL = "<script>window.PWNED=1</script><b>x</b>"
MODALITIES = {"text": "sbert:mean", "audio": "yamnet:mean", "video": "effnet:mean"}


def _result(ids, y_true, y_pred, classes, modality, feature_set, kind="single", rng=None):
    k = len(classes)
    proba = rng.dirichlet(np.ones(k), size=len(ids))
    col = {c: j for j, c in enumerate(classes)}
    for i, p in enumerate(y_pred):  # the predicted class gets the highest probability
        proba[i, col[p]] = proba[i].max() + 0.1
    proba /= proba.sum(axis=1, keepdims=True)
    return CVResult(
        feature_set=feature_set,
        classifier="ovr_linear_svc",
        classes=np.asarray(classes, dtype=object),
        ids=np.asarray(ids, dtype=object),
        y_true=np.asarray(y_true, dtype=object),
        y_pred=np.asarray(y_pred, dtype=object),
        proba=proba,
        fold=np.arange(len(ids)) % 2,
        scores={"balanced_accuracy": np.array([0.5, 0.6]), "accuracy": np.array([0.5, 0.6])},
        label_set="youtube",
        kind=kind,
        modality=modality,
        n_folds=2,
    )


def _store(root: Path, name: str, kind: str, params: dict, per_video: dict) -> str:
    """A feature store in the layout trimodal.store.features documents (written directly:
    aggregating 30,000 per-video files would make the 10,000-video benchmark slow)."""
    out = root / "results" / "features" / f"{name}.h5"
    out.parent.mkdir(parents=True, exist_ok=True)
    ids = list(per_video)
    str_dt = h5py.string_dtype(encoding="utf-8")
    with h5py.File(out, "w") as h5:
        h5.attrs.update(
            {"extractor": name, "kind": kind, "modality": "x", "params": json.dumps(params)}
        )
        h5.attrs["n_videos"], h5.attrs["n_failed"] = len(ids), 0
        h5.create_dataset("video_ids", data=ids, dtype=str_dt)
        if any(f.text is not None for f in per_video.values()):
            h5.create_dataset("text", data=[f.text or "" for f in per_video.values()], dtype=str_dt)
        tables: dict[str, list] = {}
        for vid, f in per_video.items():
            for t, df in f.tables.items():
                tables.setdefault(t, []).append(df.assign(video_id=vid))
            if f.windows is not None:
                h5.create_dataset(f"windows/{vid}/values", data=f.windows)
                h5.create_dataset(f"windows/{vid}/times", data=f.times)
        for t, parts in tables.items():
            df = pd.concat(parts, ignore_index=True)
            df = df[["video_id", *[c for c in df.columns if c != "video_id"]]]
            g = h5.create_group(f"tables/{t}")
            g.attrs["columns"] = json.dumps(list(df.columns))
            for c in df.columns:
                numeric = pd.api.types.is_numeric_dtype(df[c])
                g.create_dataset(c, data=df[c].to_numpy() if numeric else df[c].astype(str).tolist(),
                                 dtype=None if numeric else str_dt)  # fmt: skip
        for c in ("video_id", "stage", "reason"):
            h5.create_dataset(f"failures/{c}", data=[], dtype=str_dt)
    return str(out)


def synthetic_tree(root: Path, n: int = 12, seed: int = 0, evil: bool = True) -> dict:
    """Write sheet, labels, results, stores, failures, rankings and thumbnails for n videos
    under root; returns build_explorer's keyword arguments and what the data says (truth)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    ids = [f"v{i:05d}" for i in range(n)]
    y = [CLASSES[i % len(CLASSES)] for i in range(n)]
    sheet = pd.DataFrame(
        {
            "video_id": ids,
            "video": [f"clips/{v}.mp4" for v in ids],
            "ad_audio": "",
            "description": [f"A picture of thing {i}, shown slowly." for i in range(n)],
            "label": y,
        }
    )
    if evil:
        sheet.loc[0, "description"] = "<img src=x onerror=window.PWNED=2> & </script>"
    (root / "config").mkdir(parents=True, exist_ok=True)
    sheet_path = root / "config" / "videos.tsv"
    sheet.to_csv(sheet_path, sep="\t", index=False)
    labels = pd.DataFrame({"video_id": ids, "label": y})
    if evil:  # the label set's own label of video 1 is markup
        labels.loc[1, "label"] = EVIL
    labels_path = root / "results" / "labels" / "youtube.tsv"
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    labels.to_csv(labels_path, sep="\t", index=False)
    y_true = list(labels["label"])
    classes = sorted(set(y_true))

    # predictions: each modality right on a random ~half; video 2 wrong everywhere, video 3
    # right by text only
    results, truth = [], {"ids": ids, "y": y_true, "pred": {}}
    right = {m: rng.random(n) < 0.5 for m in MODALITIES}
    if n > 3:
        for m in MODALITIES:
            right[m][2] = False
            right[m][3] = m == "text"
    for m, fs in MODALITIES.items():
        pred = [
            t if right[m][i] else classes[(classes.index(t) + 1) % len(classes)]
            for i, t in enumerate(y_true)
        ]
        r = _result(ids, y_true, pred, classes, m, fs, rng=rng)
        path = (
            root / "results" / "classify" / "youtube" / fs.replace(":", ".") / "ovr_linear_svc.h5"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        r.to_h5(path)
        results.append(str(path))
        truth["pred"][fs] = pred
    fused = [y_true[i] if right["text"][i] or right["audio"][i] else y_true[i] for i in range(n)]
    r = _result(ids, y_true, fused, classes, "text+audio+video", "sbert:mean+yamnet:mean",
                kind="late-mean", rng=rng)  # fmt: skip
    path = root / "results" / "fusion" / "youtube" / "late-mean" / "avt.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    r.to_h5(path)
    results.append(str(path))
    truth["right"] = {m: [bool(v) for v in right[m]] for m in MODALITIES}

    # stores: an AD transcript, YOLO detections, YAMNet top classes with windows
    whisper = {v: Features(text=f"The narrator says {v}.") for v in ids[: max(1, n // 2)]}
    yolo = {
        v: Features(
            tables={
                "detections": pd.DataFrame(
                    {
                        "frame": [0, 1],
                        "time": [0.0, 1.0],
                        "class_id": [0, 0],
                        "class_name": ["person", "person"],
                        "confidence": [0.9, 0.8],
                    }
                )  # fmt: skip
            }
        )
        for v in ids
    }
    yamnet = {}
    for v in ids:
        w = rng.random((6, 4)).astype(np.float32)
        times = np.stack([np.arange(6) * 0.48, np.arange(6) * 0.48 + 0.96], axis=1)
        top = pd.DataFrame(
            {"rank": [1, 2], "index": [2, 0], "name": ["Music", "Speech"],
             "mean_score": w.mean(0)[[2, 0]], "max_score": w.max(0)[[2, 0]]}
        )  # fmt: skip
        yamnet[v] = Features(windows=w, times=times, tables={"top": top})
    stores = [
        _store(root, "whisper_ad", "whisper", {"source": "ad_audio"}, whisper),
        _store(root, "yolo", "yolo", {}, yolo),
        _store(root, "yamnet", "yamnet", {}, yamnet),
    ]
    fail = pd.DataFrame(
        {"video_id": [ids[-1], ids[0]], "stage": ["decode", "partial_decode"],
         "where": ["effnet", "yamnet"], "reason": ["bad frame <b>", "warning: decoded 1 s of 2 s"]}
    )  # fmt: skip
    failures = root / "results" / "failures.tsv"
    fail.to_csv(failures, sep="\t", index=False)

    # cross-modal: one pair, rankings of two runs; the table says which is best
    cm = root / "results" / "crossmodal"
    cm.mkdir(parents=True, exist_ok=True)
    table = cm / "yamnet.mean__sbert.mean.tsv"
    pd.DataFrame(
        {"source": "yamnet:mean", "target": "sbert:mean", "method": ["ridge", "cca"],
         "loss": "mse", "ranking": "cosine", "mrr": [0.4, 0.3], "R@10": [0.9, 0.8],
            "chance_mrr": [0.2, 0.2]}
    ).to_csv(table, sep="\t", index=False)  # fmt: skip
    k = min(5, n)
    # the true one at rank 2 (the previous video first)
    top = np.array([[ids[(i + j - 1) % n] for j in range(k)] for i in range(n)])
    rank = np.array([1 + list(top[i]).index(ids[i]) if ids[i] in top[i] else 99 for i in range(n)])
    retrieved = {
        ("yamnet:mean", "sbert:mean", m, "mse", "cosine"): (np.array(ids), top, rank)
        for m in ("ridge", "cca")
    }
    ranks = cm / "yamnet.mean__sbert.mean.ranks.h5"
    write_rankings(ranks, retrieved)
    truth["top"] = {ids[i]: list(top[i]) for i in range(n)}

    # thumbnails: one batch folder per 100 videos, as the thumbnails rule writes them
    thumbs = []
    for b in range(0, n, 100):
        d = root / "results" / "thumbs" / f"b{b // 100:05d}"
        d.mkdir(parents=True, exist_ok=True)
        index = {}
        for v in ids[b : b + 100]:
            if v == ids[-1] and n > 1:  # the video whose decode failed has no strip
                index[v] = {"error": "ExtractionError: no decodable video frame"}
                continue
            color = tuple(int(c) for c in rng.integers(0, 255, 3))
            Image.new("RGB", (96 * 4, 72), color).save(d / f"{v}.jpg", quality=70)
            index[v] = {"file": f"{v}.jpg"}
        pd.Series(index).to_json(d / "index.json")
        thumbs.append(str(d))
    kwargs = dict(
        sheet=str(sheet_path),
        labels=[str(labels_path)],
        results=results,
        stores=stores,
        failures=str(failures),
        crossmodal_tables=[str(table)],
        rankings=[str(ranks)],
        thumbs=thumbs,
    )
    return {"kwargs": kwargs, "truth": truth}
