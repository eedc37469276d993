"""The workflow's job functions on small synthetic stores: classify, every fusion kind, report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trimodal.extractors.base import Features
from trimodal.learn.results import CVResult
from trimodal.stages.classify import classify_one
from trimodal.stages.extract import extract_one
from trimodal.stages.fuse import fuse_one
from trimodal.stages.report import make_report
from trimodal.store import features as store


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
        classify_one(
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
        ("late-stack", {}),
        ("late-vote", {}),
    ):
        out = tmp_path / "fusion" / f"{kind}.h5"
        r = fuse_one(
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
    paths = make_report(base + results, str(tmp_path / "report"), "toy")
    text = (tmp_path / "report" / "toy" / "summary.md").read_text()
    assert "intermediate" in text and "late-stack" in text and paths["verdict"] in text


def test_extract_batch_loads_the_model_once_and_writes_one_file_per_video(tmp_path, monkeypatch):
    """A batch job builds its extractor once; each video still gets its own file or error."""
    import numpy as np

    from trimodal.extractors.base import ExtractionError, Extractor, Features
    from trimodal.stages import extract as stage
    from trimodal.store import features as store

    built = []

    class Counting(Extractor):
        name = "counting"
        modality = "text"

        def load(self):
            built.append(self)

        def extract(self, item):
            if item.video_id == "v1":
                raise ExtractionError("unreadable description", stage="text")
            w = np.ones((1, 4), dtype=np.float32)
            return Features(windows=w, times=np.zeros((1, 2)), pooled={"mean": w[0]})

    monkeypatch.setattr(stage, "build_extractor", lambda *a, **k: Counting(*a[1:2]))
    monkeypatch.setattr(stage, "_EXTRACTORS", {})
    probe = tmp_path / "probe.json"
    probe.write_text("{}")
    videos = [
        {"video_id": f"v{i}", "files": {"probe": str(probe)}, "output": str(tmp_path / f"v{i}.h5"),
         "description": f"text {i}"}
        for i in range(4)
    ]  # fmt: skip
    counts = stage.extract_batch(
        videos, extractor="c", kind="counting", modality="text", model=None,
        params={"k": 1}, device="cpu",
    )  # fmt: skip
    assert counts == {"computed": 4, "reused": 0, "errors": 1} and len(built) == 1
    assert not store.read_video_file(tmp_path / "v1.h5")["attrs"]["ok"]
    assert store.read_video_file(tmp_path / "v2.h5")["attrs"]["ok"]


def test_text_job_reads_its_source_from_a_batched_producers_folder(tmp_path):
    """A text extractor whose source extractor is batched gets the batch folder as input."""
    from trimodal.store import features as store

    folder = tmp_path / "extract" / "whisper_ad" / "batches" / "b00000"
    header = {"extractor": "whisper_ad", "kind": "whisper", "modality": "audio", "model": "",
              "params": {}}  # fmt: skip
    store.write_video_file(folder / "v7.h5", "v7", header, features=Features(text="a red kite"))
    probe = tmp_path / "probe.json"
    probe.write_text("{}")
    out = tmp_path / "text" / "v7.h5"
    ok = extract_one(
        video_id="v7", row={"description": "a windy beach"}, probe_json=str(probe),
        output=str(out), extractor="text_all", kind="text_raw", modality="text", model=None,
        params={"sources": ["description", "ad_transcript"]}, device="cpu",
        text_inputs={"ad_transcript": str(folder)},
    )  # fmt: skip
    assert ok
    assert store.read_video_file(out)["text"] == "a windy beach a red kite"
