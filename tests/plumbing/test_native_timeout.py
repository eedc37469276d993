"""A per-video timeout that stops native code (issue 24). SIGALRM runs its handler only when
control returns to Python; a C-level sleep (ctypes libc.sleep, as a decode stuck inside PyAV or
an inference inside onnxruntime would be) never returned. Now each video runs in a forked
child that the job kills: the stuck video becomes a `timeout` error record and the batch goes
on with the next video."""

from __future__ import annotations

import os
import time

import pytest
import yaml

from tests.workflow_project import make_project, small_sheet, snakemake
from trimodal.store import features as store

BLOCKING_EXTRACTOR = '''
"""A text extractor that blocks in C (libc sleep) on descriptions containing 'block'."""
import ctypes

import numpy as np

from trimodal.extractors.base import Extractor, Features, Param


class Blocking(Extractor):
    name = "blocking"
    modality = "text"
    PARAMS = {"sources": Param(list, ["description"], "text sources")}
    POOLINGS = ("mean",)

    def extract(self, item):
        text = item.description or ""
        if "block" in text:
            ctypes.CDLL(None).sleep(600)  # native code: no Python bytecode runs until it returns
        return Features(pooled={"mean": np.array([len(text)], dtype=np.float32)})
'''


@pytest.mark.slow
def test_a_video_blocked_in_native_code_times_out_and_the_batch_goes_on(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "blocking.py").write_text(BLOCKING_EXTRACTOR)
    sheet = small_sheet(per_label=1, extra_ids=())
    sheet.loc[1, "description"] = "this one will block in C"
    stuck = sheet.loc[1, "video_id"]
    extractors = {"blocking": {"kind": "blocking:Blocking", "model": None, "batch": 10,
                               "resources": {"video_timeout_s": 2}}}  # fmt: skip
    wd = make_project(tmp_path / "wd", sheet, extractors, feature_sets=("blocking:mean",))
    env = {"PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    t0 = time.monotonic()
    snakemake(wd, "results/features/blocking.h5", env=env, timeout=300)
    assert time.monotonic() - t0 < 120  # not the 600 s sleep
    fails = store.load_failures(wd / "results" / "features" / "blocking.h5")
    assert list(fails["video_id"]) == [stuck] and list(fails["stage"]) == ["timeout"]
    assert "2 s timeout" in fails["reason"].iloc[0]
    _, ids = store.load_pooled(wd / "results" / "features" / "blocking.h5")
    assert sorted(ids) == sorted(v for v in sheet["video_id"] if v != stuck)


@pytest.mark.slow
def test_real_extractors_in_the_killable_child(tmp_path):
    """effnet (torch), yamnet (onnxruntime) and sbert (torch) forked after their model loaded:
    the same features as without a timeout (no deadlock on their thread pools)."""
    from tests.workflow_project import assert_same_store

    sheet = small_sheet(per_label=1, extra_ids=())
    wd0 = make_project(tmp_path / "plain", sheet)
    snakemake(wd0, *(f"results/features/{x}.h5" for x in ("effnet", "yamnet", "sbert_desc")))
    wd1 = make_project(tmp_path / "child", sheet)
    snakemake(
        wd1,
        "--config",
        "video_timeout_s=300",
        "--",
        *(f"results/features/{x}.h5" for x in ("effnet", "yamnet", "sbert_desc")),
        timeout=900,
    )
    for x in ("effnet", "yamnet", "sbert_desc"):
        assert_same_store(wd0 / f"results/features/{x}.h5", wd1 / f"results/features/{x}.h5")


BLOCKING_EFFNET = '''
"""EfficientNet (torch) that blocks in C, after starting a helper process, on one video."""
import ctypes
import os
import subprocess

from trimodal.extractors.frame_embedding import FrameEmbeddingExtractor


class BlockingEffnet(FrameEmbeddingExtractor):
    name = "blocking_effnet"

    def extract(self, item):
        if item.video_id == os.environ.get("BLOCK_VIDEO"):
            subprocess.Popen(["sleep", "600"])  # a helper, as the TensorFlow back-end
            ctypes.CDLL(None).sleep(600)
        return super().extract(item)
'''


def processes_tagged(tag: str) -> list[str]:
    """Processes (of any parentage: re-parented ones included) whose environment holds `tag`."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if p.environ().get("TRIMODAL_TEST_TAG") == tag:
                found.append(f"{p.pid}: {' '.join(p.info['cmdline'] or [])}")
        except (psutil.Error, OSError):
            pass
    return found


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_torch_extractor_at_two_threads_with_a_timeout(tmp_path, device):
    """Issue 32: the fork-based timeout hung every video of a 2-thread torch job (OpenMP after
    fork) and could not use CUDA. In the spawned worker: every normal video is computed, the
    video blocked in native code becomes `timeout` (its helper killed with the worker), the
    batch finishes, and no process of the job is left."""
    import uuid

    if device == "cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "blocking_effnet.py").write_text(BLOCKING_EFFNET)
    sheet = small_sheet(per_label=1, extra_ids=())
    stuck = sheet.loc[1, "video_id"]
    spec = {"kind": "blocking_effnet:BlockingEffnet", "model": "efficientnet-lite0",
            "params": {"fps": 1.0, "max_frames": 8, "batch_size": 8, "image_size": 224},
            "batch": 10, "resources": {"threads": 2, "video_timeout_s": 30}}  # fmt: skip
    wd = make_project(tmp_path / "wd", sheet, {"effnet": spec}, feature_sets=("effnet:mean",))
    config = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump({**config, "device": device}))
    tag = uuid.uuid4().hex
    env = {
        "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")]),
        "BLOCK_VIDEO": stuck,
        "TRIMODAL_TEST_TAG": tag,
    }
    snakemake(wd, "results/features/effnet.h5", env=env, timeout=900)
    fails = store.load_failures(wd / "results" / "features" / "effnet.h5")
    assert list(fails["video_id"]) == [stuck] and list(fails["stage"]) == ["timeout"]
    assert "30 s timeout" in fails["reason"].iloc[0]
    _, ids = store.load_pooled(wd / "results" / "features" / "effnet.h5")
    assert sorted(ids) == sorted(v for v in sheet["video_id"] if v != stuck)
    log = next((wd / "logs" / "extract" / "effnet" / "batches").glob("*.log")).read_text()
    assert "computed" in log  # the worker's messages reach the job's log
    time.sleep(1)
    assert processes_tagged(tag) == []
