"""Per-video reuse inside batch jobs, batch sizing, and the code hash that triggers reruns."""

from __future__ import annotations

import os

import numpy as np
import pytest

from trimodal.extractors.base import ExtractionError, Extractor, Features
from trimodal.plumbing.batching import MAX_BATCH, MIN_BATCH, batch_size, make_batches
from trimodal.plumbing.codehash import closure, code_hash
from trimodal.stages import extract as stage
from trimodal.store import features as store
from trimodal.store.reuse import ResultCache, file_identity, result_key


class Counting(Extractor):
    """Embeds the description's length; records each call."""

    name = "counting"
    modality = "text"
    calls: list[str] = []

    def extract(self, item):
        Counting.calls.append(item.video_id)
        if item.description == "bad":
            raise ExtractionError("unusable text", stage="text")
        w = np.full((1, 3), len(item.description), dtype=np.float32)
        return Features(windows=w, times=np.zeros((1, 2)), pooled={"mean": w[0]})


@pytest.fixture
def counting(monkeypatch):
    Counting.calls = []
    monkeypatch.setattr(stage, "build_extractor", lambda *a, **k: Counting(*a[1:2]))
    monkeypatch.setattr(stage, "_EXTRACTORS", {})
    return Counting.calls


def _batch(tmp_path, descriptions, out="out", **kw):
    probe = tmp_path / "probe.json"
    probe.write_text("{}")
    videos = [
        {"video_id": vid, "files": {"probe": str(probe)}, "description": text,
         "output": str(tmp_path / out / f"{vid}.h5")}
        for vid, text in descriptions.items()
    ]  # fmt: skip
    common = dict(extractor="c", kind="counting", modality="text", model=None,
                  params={"k": 1}, device="cpu", code="abc")  # fmt: skip
    common.update(kw)
    return stage.extract_batch(videos, **common)


def test_rerun_reuses_unchanged_videos_and_computes_only_the_edited_one(tmp_path, counting):
    cache = str(tmp_path / "cache")
    texts = {"a": "one", "b": "bad", "c": "three", "d": "four"}
    first = _batch(tmp_path, texts, cache_dir=cache)
    assert first == {"computed": 4, "reused": 0, "errors": 1}
    fresh = {v: store.read_video_file(tmp_path / "out" / f"{v}.h5") for v in texts}

    counting.clear()
    again = _batch(tmp_path, texts, out="again", cache_dir=cache)
    assert again == {"computed": 0, "reused": 4, "errors": 0} and counting == []
    for v in texts:  # the reused file is the file the first run wrote
        a = (tmp_path / "out" / f"{v}.h5").read_bytes()
        assert (tmp_path / "again" / f"{v}.h5").read_bytes() == a
        assert (
            store.read_video_file(tmp_path / "again" / f"{v}.h5")["attrs"]["ok"]
            == (fresh[v]["attrs"]["ok"])
        )

    edited = dict(texts, c="three!")  # one description edited, one video inserted
    edited = {"a": "one", "new": "inserted", **{k: v for k, v in edited.items() if k != "a"}}
    counting.clear()
    third = _batch(tmp_path, edited, out="third", cache_dir=cache)
    assert sorted(counting) == ["c", "new"] and third["computed"] == 2


def test_no_cache_dir_computes_every_time(tmp_path, counting):
    _batch(tmp_path, {"a": "x", "b": "y"}, cache_dir=None)
    _batch(tmp_path, {"a": "x", "b": "y"}, cache_dir=None)
    assert counting == ["a", "b", "a", "b"]


def test_a_change_of_params_code_or_model_misses_the_cache(tmp_path, counting):
    cache = str(tmp_path / "cache")
    _batch(tmp_path, {"a": "x"}, cache_dir=cache)
    for kw in ({"params": {"k": 2}}, {"code": "def"}, {"model": "other"}, {"extractor": "c2"}):
        counting.clear()
        _batch(tmp_path, {"a": "x"}, cache_dir=cache, **kw)
        assert counting == ["a"], kw


def test_timeouts_are_never_reused(tmp_path, monkeypatch):
    calls = []

    class Slow(Counting):
        def extract(self, item):
            calls.append(item.video_id)
            raise ExtractionError("took too long", stage="timeout")

    monkeypatch.setattr(stage, "build_extractor", lambda *a, **k: Slow(*a[1:2]))
    monkeypatch.setattr(stage, "_EXTRACTORS", {})
    cache = str(tmp_path / "cache")
    _batch(tmp_path, {"a": "x"}, cache_dir=cache)
    _batch(tmp_path, {"a": "x"}, cache_dir=cache)
    assert calls == ["a", "a"]


def test_all_reused_batch_never_builds_the_model(tmp_path, counting, monkeypatch):
    cache = str(tmp_path / "cache")
    _batch(tmp_path, {"a": "x", "b": "y"}, cache_dir=cache)
    monkeypatch.setattr(stage, "_EXTRACTORS", {})
    monkeypatch.setattr(stage, "build_extractor", lambda *a, **k: pytest.fail("model built"))
    assert _batch(tmp_path, {"a": "x", "b": "y"}, out="o2", cache_dir=cache)["reused"] == 2


def test_file_identity_sees_an_in_place_replacement_with_the_same_mtime(tmp_path):
    f = tmp_path / "v.mp4"
    f.write_bytes(os.urandom(300_000))
    before = file_identity(f)
    st = f.stat()
    data = bytearray(f.read_bytes())
    data[-10] ^= 0xFF  # same size, last block differs
    f.write_bytes(bytes(data))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # `cp -p` / `rsync -t` keep the mtime
    after = file_identity(f)
    assert after["mtime_ns"] == before["mtime_ns"] and after["size"] == before["size"]
    assert after["blocks"] != before["blocks"]


def test_cache_entries_appear_whole_or_not_at_all(tmp_path):
    cache = ResultCache(tmp_path / "cache", "x")
    src = tmp_path / "r.h5"
    src.write_bytes(b"result")
    key = result_key({"a": 1})
    assert not cache.fetch(key, tmp_path / "o.h5")
    cache.keep(key, src)
    assert cache.path(key).read_bytes() == b"result"
    names = sorted(p.name for p in cache.path(key).parent.iterdir())
    assert names == [f"{key}.h5", f"{key}.json"]  # entry and its checksum, no temp left
    assert cache.fetch(key, tmp_path / "o.h5") and (tmp_path / "o.h5").read_bytes() == b"result"


def _kept(tmp_path, name="x"):
    import h5py
    import numpy as np

    cache = ResultCache(tmp_path / "cache", name)
    out = tmp_path / "out.h5"
    with h5py.File(out, "w") as h5:
        h5["x"] = np.arange(4.0)
        h5.attrs["ok"] = True
    key = result_key({"v": 1})
    cache.keep(key, out)
    return cache, key, out


def test_the_cache_shares_no_inode_with_outputs_touch_and_r_plus_edits_leave_it(tmp_path):
    import h5py
    import numpy as np

    cache, key, out = _kept(tmp_path)
    entry = cache.path(key)
    before, mtime = entry.read_bytes(), entry.stat().st_mtime_ns
    assert os.stat(out).st_ino != entry.stat().st_ino
    os.utime(out, ns=(1, 1))
    with h5py.File(out, "r+") as h5:
        h5["x"][...] = 0
    assert entry.read_bytes() == before and entry.stat().st_mtime_ns == mtime
    fetched = tmp_path / "again.h5"
    assert cache.fetch(key, fetched)
    with h5py.File(fetched) as h5:
        np.testing.assert_array_equal(h5["x"][()], np.arange(4.0))
    assert os.stat(fetched).st_ino != entry.stat().st_ino


def test_a_truncated_or_edited_entry_is_discarded_with_a_warning_naming_it(tmp_path, caplog):
    cache, key, _ = _kept(tmp_path)
    entry = cache.path(key)
    entry.write_bytes(entry.read_bytes()[:100])  # truncated on disk
    with caplog.at_level("WARNING", logger="trimodal"):
        assert not cache.fetch(key, tmp_path / "o.h5")
    assert str(entry) in caplog.text and "recomputing" in caplog.text
    assert not entry.exists()  # gone: the next keep replaces it


def test_a_forced_run_reuses_nothing_kept_before_it(tmp_path, monkeypatch):
    from trimodal.store.reuse import mark_forced

    monkeypatch.chdir(tmp_path)  # the marker lives in the project (.snakemake/)
    cache, key, _ = _kept(tmp_path)
    os.utime(cache.path(key), ns=(1, 1))  # kept long before the forced run
    mark_forced("x")
    assert not ResultCache(tmp_path / "cache", "x").fetch(key, tmp_path / "o.h5")
    assert ResultCache(tmp_path / "cache", "other").forced_ns == 0  # other extractors reuse
    _kept(tmp_path)  # what the forced run keeps (the same key) is reused afterwards
    assert ResultCache(tmp_path / "cache", "x").fetch(key, tmp_path / "o2.h5")


@pytest.mark.parametrize(
    "n, expected",
    [(1, 1), (10, 10), (78, MIN_BATCH), (2300, 72), (10_000, 313), (100_000, MAX_BATCH)],
)
def test_auto_batch_size(n, expected):
    assert batch_size("auto", n) == expected
    assert batch_size(None, n) == expected


def test_fixed_batch_sizes_and_batches_in_sheet_order():
    assert batch_size(1, 500) == 1 and batch_size(7, 3) == 7
    with pytest.raises(ValueError):
        batch_size(0, 10)
    batches = make_batches([f"v{i}" for i in range(5)], 2)
    assert batches == {"b00000": ["v0", "v1"], "b00001": ["v2", "v3"], "b00002": ["v4"]}


def test_code_closure_follows_imports_within_the_package():
    video = closure("trimodal.extractors.frame_embedding")
    text = closure("trimodal.extractors.text_raw")
    assert "trimodal.media.frames" in video and "trimodal.media.frames" not in text
    assert "trimodal.extractors.text_sources" in text
    # lazy imports inside functions count too (stages.extract imports text_sources lazily)
    assert "trimodal.extractors.text_sources" in closure("trimodal.stages.extract")
    assert code_hash("trimodal.extractors.text_raw") != code_hash("trimodal.extractors.sbert")


LIGHT_JOB = """
import json, sys
from trimodal.stages.extract import extract_batch
from trimodal.stages.probe import probe_video
video, out = sys.argv[1], sys.argv[2]
probe_video("v", video, None, out + "/probe.json")
files = {"probe": out + "/probe.json", "video": video}
for name, kind, model, params in [
    ("text", "text_raw", None, {"sources": ["description"]}),
    ("yamnet", "yamnet", "packaged:yamnet-int8-onnx", {"source": "soundtrack", "top_k": 5}),
]:
    counts = extract_batch([{"video_id": "v", "files": files, "output": f"{out}/{name}.h5",
                             "description": "a dog barks"}], extractor=name, kind=kind,
                           modality="audio" if name == "yamnet" else "text", model=model,
                           params=params, device="auto")
    assert counts["computed"] == 1 and counts["errors"] == 0, counts
print(json.dumps(sorted(m for m in ("torch", "transformers", "sentence_transformers",
                                     "tensorflow", "ultralytics") if m in sys.modules)))
"""


def test_text_yamnet_and_probe_jobs_never_import_torch_or_transformers(tmp_path):
    """A job imports only what its extractor needs (torch alone costs 2.7 CPU-s a job)."""
    import json
    import subprocess
    import sys

    from tests.workflow_project import demo_sheet

    sheet = demo_sheet()
    video = sheet.loc[sheet["video_id"] == "qabcs_animals_bird", "video"].iloc[0]
    proc = subprocess.run(
        [sys.executable, "-c", LIGHT_JOB, video, str(tmp_path)],
        capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_feature_set_parses_once_in_either_spelling():
    from trimodal.domain import FeatureSet

    for text in ("yamnet:mean_max", "yamnet.mean_max"):
        fs = FeatureSet.parse(text)
        assert (fs.extractor, fs.pooling) == ("yamnet", "mean_max")
        assert str(fs) == "yamnet:mean_max" and fs.slug == "yamnet.mean_max"
        assert fs.store() == "results/features/yamnet.h5"
    assert FeatureSet.parse("effnet").pooling == "mean"


def test_an_extractor_that_does_not_read_the_description_ignores_its_edits(tmp_path):
    """A transcript embedder reuses its result when only the written description changes."""
    folder = tmp_path / "whisper"
    header = {"extractor": "w", "kind": "whisper", "modality": "audio", "model": "", "params": {}}
    store.write_video_file(folder / "v.h5", "v", header, features=Features(text="a red kite"))
    probe = tmp_path / "probe.json"
    probe.write_text("{}")
    cache = str(tmp_path / "cache")
    calls = []
    for i, description in enumerate(["first", "edited", "edited"]):
        counts = stage.Counts()
        stage.extract_one(
            video_id="v", row={"description": description}, probe_json=str(probe),
            output=str(tmp_path / f"out{i}.h5"), extractor="t", kind="text_raw",
            modality="text", model=None, params={"sources": ["ad_transcript"]}, device="cpu",
            cache_dir=cache, text_inputs={"ad_transcript": str(folder / "v.h5")}, counts=counts,
        )  # fmt: skip
        calls.append(counts["computed"])
    assert calls == [1, 0, 0]
    assert store.read_video_file(tmp_path / "out1.h5")["text"] == "a red kite"


def test_a_hub_model_is_fingerprinted_by_its_resolved_snapshot(tmp_path, monkeypatch):
    from trimodal.plumbing.models import describe_model

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert describe_model("org/not-cached")["model_fingerprint"] == "hub:org/not-cached"
    repo = tmp_path / "models--org--m"
    (repo / "refs").mkdir(parents=True)
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    (repo / "refs" / "main").write_text("abc123")
    first = describe_model("org/m")["model_fingerprint"]
    assert first.startswith("hub:org/m@abc123:")
    (repo / "refs" / "main").write_text("def456")  # a new upload of the same id
    (repo / "snapshots" / "def456").mkdir()
    assert describe_model("org/m")["model_fingerprint"].startswith("hub:org/m@def456:")


def test_a_code_hash_of_a_module_that_does_not_exist_is_an_error():
    """A rule naming a moved or renamed module would hash nothing and never rerun."""
    from trimodal.plumbing.codehash import code_hash

    assert len(code_hash("trimodal.stages.clip")) == 16
    with pytest.raises(ValueError, match="trimodal.clip_stage"):
        code_hash("trimodal.clip_stage")
