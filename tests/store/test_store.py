"""Per-video files and the aggregated store: layout, error records, atomic writes, reader API."""

import h5py
import numpy as np
import pandas as pd
import pytest

from trimodal.extractors.base import Features
from trimodal.extractors.pooling import attention_pool, pool_all
from trimodal.store import features as store

HEADER = {"extractor": "toy", "kind": "toy", "modality": "audio", "model": "m", "params": {"a": 1}}


def features(seed: int, n: int = 4, d: int = 3) -> Features:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, d))
    t = np.stack([np.arange(n), np.arange(n) + 1.0], axis=1)
    table = pd.DataFrame({"frame": np.arange(n), "name": [f"obj{i}" for i in range(n)]})
    return Features(
        windows=w,
        times=t,
        pooled=pool_all(w),
        text=f"text {seed}",
        tables={"detections": table},
        attrs={"language": "en", "n": n},
    )


def test_round_trip_and_store(tmp_path):
    for i, vid in enumerate(["b", "a", "c"]):
        store.write_video_file(tmp_path / f"{vid}.h5", vid, HEADER, features=features(i, n=2 + i))
    store.write_video_file(tmp_path / "bad.h5", "bad", HEADER, error=("probe", "no audio stream"))
    one = store.read_video_file(tmp_path / "a.h5")
    assert one["windows"].shape == (3, 3) and one["text"] == "text 1"
    assert one["attrs"]["meta_language"] == "en"

    out = tmp_path / "store.h5"
    counts = store.aggregate(sorted(tmp_path.glob("*.h5")), out, header={"model": "m2"})
    assert counts == {"n_videos": 3, "n_failed": 1}
    X, ids = store.load_pooled(out, "mean")
    assert list(ids) == ["a", "b", "c"] and X.shape == (3, 3)
    np.testing.assert_allclose(X[0], features(1, n=3).pooled["mean"], rtol=1e-6)
    Xmm, _ = store.load_pooled(out, "mean_max")
    assert Xmm.shape == (3, 6)
    assert store.load_text(out)["c"] == "text 2"
    w, t = store.load_windows(out, "c")
    assert w.shape == (4, 3) and t[-1, 1] == 4.0
    det = store.load_table(out, "detections")
    assert list(det.columns[:2]) == ["video_id", "frame"] and len(det) == 2 + 3 + 4
    fails = store.load_failures(out)
    assert fails.to_dict("records") == [
        {"video_id": "bad", "stage": "probe", "reason": "no audio stream"}
    ]
    attrs = store.store_attrs(out)
    assert attrs["model"] == "m2" and attrs["params"] == {"a": 1} and attrs["n_failed"] == 1
    assert store.load_meta(out).loc["b", "n"] == 2
    with pytest.raises(KeyError, match="has no pooling 'nope'"):
        store.load_pooled(out, "nope")


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "x.h5"
    with pytest.raises(RuntimeError):
        with store.atomic_h5(target) as h5:
            h5["a"] = np.zeros(3)
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_store_with_only_failures_is_valid(tmp_path):
    store.write_video_file(tmp_path / "v.h5", "v", HEADER, error=("decode", "corrupt"))
    out = tmp_path / "s.h5"
    store.aggregate([tmp_path / "v.h5"], out)
    with h5py.File(out) as h5:
        assert h5.attrs["n_videos"] == 0 and len(h5["video_ids"]) == 0


def test_inconsistent_dimensions_are_refused(tmp_path):
    store.write_video_file(tmp_path / "a.h5", "a", HEADER, features=features(0, d=3))
    store.write_video_file(tmp_path / "b.h5", "b", HEADER, features=features(1, d=4))
    with pytest.raises(ValueError, match=r"b.h5: pooled/\w+ has shape \(4,\), others \(3,\)"):
        store.aggregate([tmp_path / "a.h5", tmp_path / "b.h5"], tmp_path / "s.h5")


def test_attention_pool_weights_energetic_windows():
    quiet = np.full((9, 2), 0.01)
    loud = np.array([[10.0, -10.0]])
    x = np.vstack([quiet, loud])
    att = attention_pool(x)
    mean = x.mean(axis=0)
    assert att[0] > mean[0] and att[1] < mean[1]
    np.testing.assert_allclose(attention_pool(np.ones((5, 2))), [1.0, 1.0])
