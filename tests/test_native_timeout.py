"""A per-video timeout that stops native code (issue 24). SIGALRM runs its handler only when
control returns to Python; a C-level sleep (ctypes libc.sleep, as a decode stuck inside PyAV or
an inference inside onnxruntime would be) never returned. Now each video runs in a forked
child that the job kills: the stuck video becomes a `timeout` error record and the batch goes
on with the next video."""

from __future__ import annotations

import os
import time

import pytest

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
