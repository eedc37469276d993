"""What a file records about its weights and back-end (issue 36): a hub model's revision
resolved before it is recorded, Whisper size names looked up under their repository, the
TensorFlow version of a TF back-end, and the circular-pair check on model identity."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from trimodal.domain import Features
from trimodal.extractors.base import REGISTRY, TEXT_SOURCES, Extractor, Param
from trimodal.plumbing.models import describe_model, is_resolved, model_identity

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_download(cache: Path, repo: str) -> None:
    """What a Hugging Face download leaves in the cache: refs/main and the snapshot."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(COMMIT)
    (folder / "snapshots" / COMMIT).mkdir(parents=True, exist_ok=True)
    (folder / "snapshots" / COMMIT / "weights.bin").write_bytes(b"w" * 64)


class HubText(Extractor):
    """A text extractor whose weights the back-end fetches from the Hub when it loads."""

    name = "hub_text"
    modality = "text"
    PARAMS = {"sources": TEXT_SOURCES, "batch_size": Param(int, 8, "run-time", runtime=True)}
    loads: list[str] = []

    def load(self):
        import os

        HubText.loads.append(self.model_spec)
        fake_download(Path(os.environ["HF_HUB_CACHE"]), self.model_spec)

    def extract(self, item):
        return Features(pooled={"mean": np.ones(3, dtype=np.float32)})


@pytest.fixture(autouse=True)
def hub_text_kind(monkeypatch):
    """The test kind, registered for this module's tests only (the registry is global)."""
    monkeypatch.setitem(REGISTRY, "hub_text_test", f"{__name__}:HubText")


def run_once(tmp_path: Path, n: int, run_params: dict | None = None):
    from trimodal.stages import extract as ex

    probe = tmp_path / "probe.json"
    probe.write_text("{}")
    counts = ex.Counts()
    out = tmp_path / f"run{n}" / "v1.h5"
    out.parent.mkdir(parents=True, exist_ok=True)
    ex.extract_one(
        video_id="v1",
        row={"description": "a red ball"},
        probe_json=str(probe),
        output=str(out),
        extractor="hub_text",
        kind="hub_text_test",
        modality="text",
        model="org/tiny-model",
        params={"sources": ["description"]},
        device="cpu",
        cache_dir=str(tmp_path / "cache"),
        counts=counts,
        run_params=run_params,
    )
    return counts, out


def test_a_hub_model_records_its_revision_on_the_first_run(tmp_path, monkeypatch):
    """The first run loads the model (which fetches it) before recording it: its file names
    the snapshot's commit, and the next run (a new job) reuses it instead of recomputing."""
    from trimodal.stages import extract as ex
    from trimodal.store.features import store_attrs

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for memo in (ex._model_attrs, ex._packages):
        memo.cache_clear()
    monkeypatch.setattr(ex, "_EXTRACTORS", {})
    first, out = run_once(tmp_path, 1)
    assert first["computed"] == 1
    assert f"hub:org/tiny-model@{COMMIT}" in store_attrs(out)["model_fingerprint"]
    # a new job: nothing of the first one's process state
    ex._model_attrs.cache_clear()
    monkeypatch.setattr(ex, "_EXTRACTORS", {})
    second, _ = run_once(tmp_path, 2)
    assert second["reused"] == 1 and second["computed"] == 0, second


def test_the_first_run_loads_a_hub_model_once_with_its_run_time_params(tmp_path, monkeypatch):
    """Resolving the revision loads the model as the computation builds it (run-time params
    included): one load per job, not one for the revision and one for the compute."""
    from trimodal.stages import extract as ex

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    ex._model_attrs.cache_clear()
    monkeypatch.setattr(ex, "_EXTRACTORS", {})
    monkeypatch.setattr(HubText, "loads", [])
    counts, _ = run_once(tmp_path, 1, run_params={"batch_size": 3})
    assert counts["computed"] == 1 and HubText.loads == ["org/tiny-model"]


def test_unresolved_and_resolved_hub_descriptions(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    before = describe_model("org/other")
    assert before["model_fingerprint"] == "hub:org/other" and not is_resolved(before)
    fake_download(tmp_path, "org/other")
    after = describe_model("org/other")
    assert after["model_fingerprint"].startswith(f"hub:org/other@{COMMIT}:")
    assert is_resolved(after)
    remote = describe_model("https://tfhub.dev/google/yamnet/1", None)
    assert remote["model_fingerprint"].startswith("remote:") and not is_resolved(remote)


def test_whisper_size_names_record_the_revision_of_their_repository(tmp_path, monkeypatch):
    pytest.importorskip("faster_whisper")
    from trimodal.extractors.whisper import WhisperExtractor

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    repo = WhisperExtractor.hub_repo("small")
    assert repo != "small"
    fake_download(tmp_path, repo)
    attrs = WhisperExtractor(model="small").model_attrs()
    assert attrs["model_fingerprint"].startswith(f"hub:{repo}@{COMMIT}:"), attrs


def fake_interpreter(tmp_path: Path, versions: dict) -> str:
    """An executable that answers the version query as a TensorFlow interpreter would."""
    path = tmp_path / "tfpython"
    path.write_text(f"#!/bin/sh\necho '{json.dumps(versions)}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_tensorflow_back_ends_record_the_tensorflow_version(tmp_path):
    from trimodal.stages.extract import extractor_versions

    tf = fake_interpreter(tmp_path, {"tensorflow": "2.99.1", "tensorflow-hub": "0.99"})
    handle = "https://tfhub.dev/google/yamnet/1"
    yam = extractor_versions("yamnet", handle, {"tf_python": tf})
    assert yam["tensorflow"] == "2.99.1" and yam["tensorflow-hub"] == "0.99"
    vgg = extractor_versions("vggish", None, {"backend": "tf", "tf_python": tf})
    assert vgg["tensorflow"] == "2.99.1"
    # the ONNX / torch back-ends run no TensorFlow
    assert "tensorflow" not in extractor_versions("yamnet", None, {"tf_python": tf})
    assert "tensorflow" not in extractor_versions("vggish", None, {"backend": "torch"})


def test_the_real_tensorflow_interpreter_reports_its_version():
    import os

    from trimodal.extractors.tf_process import tf_versions

    python = os.environ.get("TRIMODAL_TF_PYTHON")
    if not python or not Path(python).exists():
        pytest.skip("no TensorFlow interpreter ($TRIMODAL_TF_PYTHON)")
    assert tf_versions({}).get("tensorflow", "").count(".") >= 1


def test_the_circular_check_compares_resolved_model_identity():
    """The packaged alias of the label set's MiniLM is the same model: the pair is flagged."""
    from trimodal.stages.config_check import circular_pairs

    assert model_identity("all-MiniLM-L6-v2") == model_identity(
        "sentence-transformers/all-MiniLM-L6-v2"
    )
    cfg = {
        "labels": {
            "sets": {
                "zs": {
                    "from": "zeroshot",
                    "backend": "embedding",
                    "model": "sentence-transformers/all-MiniLM-L6-v2",
                }
            }
        },
        "extractors": {
            "sbert_alias": {
                "kind": "sbert",
                "model": "all-MiniLM-L6-v2",
                "params": {"sources": ["description"]},
            },
            "sbert_other": {
                "kind": "sbert",
                "model": "all-mpnet-base-v2",
                "params": {"sources": ["description"]},
            },
        },
    }
    assert circular_pairs(cfg) == {"zs": ["sbert_alias"]}
