"""The workflow's job functions on small synthetic stores: classify, every fusion kind, report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trimodal import jobs, store
from trimodal.classify import CVResult
from trimodal.extractors.base import Features


@pytest.fixture
def stores(tmp_path):
    """Three modalities, each holding part of the class signal, as real stores on disk."""
    rng = np.random.default_rng(0)
    n, classes = 48, np.array(["a", "b", "c"])
    y = classes[np.arange(n) % 3]
    feat_dir = tmp_path / "features"
    for name, modality, strength in (
        ("aud", "audio", 1.0),
        ("vid", "video", 1.5),
        ("txt", "text", 2.0),
    ):
        files = []
        for i in range(n):
            v = rng.normal(size=8)
            v[list(classes).index(y[i])] += strength
            f = tmp_path / "pv" / name / f"v{i:02d}.h5"
            header = {
                "extractor": name,
                "kind": "x",
                "modality": modality,
                "model": "",
                "params": {},
            }
            store.write_video_file(f, f"v{i:02d}", header, features=Features(pooled={"mean": v}))
            files.append(f)
        store.aggregate(files, feat_dir / f"{name}.h5")
    labels = tmp_path / "labels.tsv"
    pd.DataFrame({"video_id": [f"v{i:02d}" for i in range(n)], "label": y}).to_csv(
        labels, sep="\t", index=False
    )
    return feat_dir, labels


def test_classify_then_every_fusion_kind_then_report(stores, tmp_path):
    feat_dir, labels = stores
    cv = {"folds": 3, "seed": 0}
    base = []
    for name in ("aud", "vid", "txt"):
        out = tmp_path / "classify" / f"{name}.h5"
        jobs.classify_one(
            store_path=str(feat_dir / f"{name}.h5"),
            pooling="mean",
            labels_tsv=str(labels),
            label_set="toy",
            classifier="ovr_linear_svc",
            cv=cv,
            options={},
            output=str(out),
        )
        base.append(str(out))
    sets = ["aud:mean", "vid:mean", "txt:mean"]
    results = []
    for kind, options in (
        ("early", {}),
        ("intermediate", {"max_epochs": 60, "device": "cpu"}),
        ("late:stack", {}),
        ("late:vote", {}),
    ):
        out = tmp_path / "fusion" / f"{kind.replace(':', '-')}.h5"
        r = jobs.fuse_one(
            kind=kind,
            feature_sets=sets,
            labels_tsv=str(labels),
            label_set="toy",
            features_dir=str(feat_dir),
            classifier="ovr_linear_svc",
            cv=cv,
            options=dict(options),
            base_results=base,
            output=str(out),
        )
        back = CVResult.from_h5(out)
        assert back.kind == r.kind and len(back.ids) == 48
        assert np.allclose(back.proba.sum(axis=1), 1.0)
        results.append(str(out))
        # every kind learns the signal: far above the 1/3 chance of three balanced classes
        assert back.summary()["balanced_accuracy_mean"] > 0.6, kind
    paths = jobs.make_report(base + results, str(tmp_path / "report"), "toy")
    text = (tmp_path / "report" / "toy" / "summary.md").read_text()
    assert "intermediate" in text and "late:stack" in text and paths["verdict"] in text
