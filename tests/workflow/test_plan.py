"""The plan (trimodal.workflow.plan) without Snakemake: batches, shards, the files each job
reads (inputs, never params), what an extractor's class declares it reads, runtimes from the
rows alone, GPU resources under the configured device."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from trimodal.workflow import media
from trimodal.workflow.plan import DEFAULT_VIDEO_MINUTES, Plan, PlanError, parse_shard


def spec(kind, modality, params=None, batch="auto", model=None):
    return {"kind": kind, "modality": modality, "model": model, "params": params or {},
            "batch": batch}  # fmt: skip


def make_config(extractors, **extra):
    return {
        "extractors": extractors,
        "probe": {"batch": "auto", "fingerprint": False},
        "device": "auto",
        "partial_decode": "warn",
        "text_sources": {"ad_transcript": "whisper_ad"},
        **extra,
    }


EXTRACTORS = {
    "effnet": spec("frame_embedding", "video", {"batch_size": 8}),
    "yamnet": spec("yamnet", "audio", {"source": "soundtrack"}),
    "whisper_ad": spec("whisper", "audio", {"source": "ad_audio"}),
    "sbert_ad": spec("sbert", "text", {"sources": ["ad_transcript"], "batch_size": 16}),
    "sbert_desc": spec("sbert", "text", {"sources": ["description"]}, batch=1),
    "text": spec("text_raw", "text", {"sources": ["description"]}),
}


@pytest.fixture
def rows(tmp_path):
    out = {}
    for i in range(45):
        vid = f"v{i:02d}"
        video = tmp_path / f"{vid}.mp4"
        video.write_bytes(b"x" * (i + 1))
        ad = tmp_path / f"{vid}.wav"
        ad.write_bytes(b"y" * 3)
        out[vid] = {"video": str(video), "ad_audio": str(ad), "description": f"text {i}",
                    "label": "ab"[i % 2], "start": "", "end": ""}  # fmt: skip
    return out


def test_batches_and_shards_partition_the_sheet(rows):
    plan = Plan(make_config(EXTRACTORS, shard="2/3"), rows)
    assert plan.shard == 2 and plan.n_shards == 3
    for batches in plan.batches.values():
        assert sum(batches.values(), []) == list(rows)  # every video once, in sheet order
        for vids in batches.values():  # a batch never crosses a shard block
            assert any(set(vids) <= set(block) for block in plan.shard_blocks)
    assert "sbert_desc" not in plan.batches  # batch: 1
    assert plan.video_file("sbert_desc", "v01") == "results/extract/sbert_desc/v01.h5"
    targets = plan.shard_targets()
    assert targets and all(not t.endswith(("v00.h5", "v00.json")) for t in targets)
    with pytest.raises(PlanError):
        parse_shard("4/3")


def test_a_batch_job_reads_its_files_as_inputs_and_its_params_hold_no_path(rows):
    plan = Plan(make_config(EXTRACTORS), rows)
    job = plan.probe_batch("b00000")
    for v in job.videos:
        files = {k: job.inputs[i] for k, i in v["inputs"].items()}
        assert files == {"video": rows[v["video_id"]]["video"],
                         "ad_audio": rows[v["video_id"]]["ad_audio"]}  # fmt: skip
    for name in plan.batches:
        job = plan.extract_batch(name, "b00001")
        text = json.dumps(job.videos)
        assert "results/" not in text and not any(r["video"] in text for r in rows.values())
    # the AD transcript is read from whisper's batch folder: an input, not a param
    job = plan.extract_batch("sbert_ad", "b00000")
    assert all("text_ad_transcript" in v["inputs"] for v in job.videos)
    assert any(f.startswith("results/extract/whisper_ad/batches/") for f in job.inputs)


def test_each_extractor_reads_what_its_class_declares(rows):
    plan = Plan(make_config(EXTRACTORS), rows)
    assert set(plan.extract_inputs("yamnet", "v00")) == {"probe", "video"}
    assert set(plan.extract_inputs("whisper_ad", "v00")) == {"probe", "ad_audio"}
    # a text extractor reads no probe and no media, and its params carry no span
    assert set(plan.extract_inputs("sbert_desc", "v00")) == set()
    assert "description" in plan.extract_video_params("sbert_desc", "v00")
    assert "description" not in plan.extract_video_params("sbert_ad", "v00")


def test_a_span_is_a_param_of_media_extractors_only(rows):
    rows["v03"].update(start="1.5", end="31.5")
    plan = Plan(make_config(EXTRACTORS), rows)
    assert plan.extract_video_params("effnet", "v03")["span"] == [1.5, 31.5]
    assert "span" not in plan.extract_video_params("sbert_desc", "v03")
    assert "span" not in plan.extract_video_params("text", "v03")


def test_batch_size_is_a_run_time_setting_not_a_result_param(rows):
    plan = Plan(make_config(EXTRACTORS), rows)
    assert "batch_size" not in plan.extract_params("sbert_ad")["params"]
    assert "batch_size" not in plan.store_spec("sbert_ad")["params"]
    assert plan.store_spec("yamnet")["params"] == {"source": "soundtrack"}


def test_runtime_comes_from_the_rows_without_reading_a_probe(rows, monkeypatch):
    rows["v00"].update(start="0", end="600")  # a 10-minute segment
    plan = Plan(make_config(EXTRACTORS), rows)
    opened = []
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or 1 / 0)
    assert plan.runtime_minutes("effnet", ["v00"]) == 2 + 10
    assert plan.runtime_minutes("effnet", ["v01", "v02"], attempt=2) == 2 * int(
        2 + 2 * DEFAULT_VIDEO_MINUTES
    )
    assert opened == []


def test_media_identity_and_absent_files_go_through_the_media_module(rows, monkeypatch):
    seen = []
    real = media.media_identity
    monkeypatch.setattr(
        "trimodal.workflow.plan.media_identity",
        lambda path, fp=False: seen.append(path) or real(path, fp),
    )
    plan = Plan(make_config(EXTRACTORS), rows, absent={"v02": ["video"]})
    assert plan.probe_params("v01")["identity"] == {"video": 2, "ad_audio": 3}
    assert rows["v01"]["video"] in seen
    assert "video" not in plan.probe_inputs("v02")
    assert plan.probe_params("v02")["missing"] == {"video": rows["v02"]["video"]}
    assert "video" not in plan.extract_inputs("effnet", "v02")


def test_label_rows_are_values_of_the_columns_the_set_reads(rows):
    plan = Plan(make_config(EXTRACTORS), rows)
    got = plan.label_rows({"from": "label"}, ["video_id", "label", "group"])
    assert got["columns"] == ["label", "group"] and got["rows"]["v01"] == ["b", ""]
    zs = plan.label_rows({"from": "zeroshot"}, ["video_id", "label"])
    assert zs["columns"] == ["label", "description"]


def test_gpu_resources_follow_the_class_and_the_device(rows, monkeypatch):
    monkeypatch.setattr("trimodal.plumbing.device.visible_gpus", lambda: ["0"])
    cross = {"methods": ["ridge", "auto"], "params": {"auto": {"candidates": ["mlp:mse"]}}}
    plan = Plan(make_config(EXTRACTORS, crossmodal=cross), rows)
    assert plan.extract_gpu("effnet")["gpu"] == 1
    assert plan.extract_gpu("yamnet") == {} and plan.extract_gpu("text") == {}
    assert plan.crossmodal_gpu()["gpu"] == 1  # auto with a network among its candidates
    ridge = Plan(make_config(EXTRACTORS, crossmodal={"methods": ["ridge", "cca"]}), rows)
    assert ridge.crossmodal_gpu() == {}
    cpu = Plan(make_config(EXTRACTORS, crossmodal=cross, device="cpu"), rows)
    assert all(cpu.extract_gpu(n) == {} for n in EXTRACTORS) and cpu.crossmodal_gpu() == {}
    monkeypatch.setattr("trimodal.plumbing.device.visible_gpus", lambda: [])
    assert Plan(make_config(EXTRACTORS, crossmodal=cross), rows).crossmodal_gpu() == {}


PLUGIN = '''
from trimodal.extractors.base import Extractor, Features, Reads


class BothTracks(Extractor):
    """A video extractor that also reads the AD track: declared once, here."""

    modality = "video"

    @classmethod
    def reads(cls, params):
        return Reads(video=True, ad_audio=True, span=True)

    @classmethod
    def uses_gpu(cls, model, params):
        return False

    def extract(self, item):
        return Features(attrs={"n": 1})
'''


def test_a_plugin_declares_a_new_source_once_and_inputs_and_reuse_key_follow(
    rows, tmp_path, monkeypatch
):
    (tmp_path / "both_tracks.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    extractors = {"both": spec("both_tracks:BothTracks", "video", batch=1)}
    plan = Plan(make_config(extractors), rows)
    assert set(plan.extract_inputs("both", "v00")) == {"probe", "video", "ad_audio"}
    monkeypatch.setattr("trimodal.plumbing.device.visible_gpus", lambda: ["0"])
    assert plan.extract_gpu("both") == {}

    from trimodal.domain import VideoItem
    from trimodal.extractors.base import extractor_reads
    from trimodal.stages.extract import own_inputs

    reads = extractor_reads("both_tracks:BothTracks", "video", {})
    item = VideoItem(video_id="v00", video=rows["v00"]["video"], ad_audio=rows["v00"]["ad_audio"],
                     probe={"ok": True}, ad_probe={"ok": True})  # fmt: skip
    before = own_inputs(item, reads)
    with open(rows["v00"]["ad_audio"], "ab") as f:  # the AD track changes: the key follows
        f.write(b"more")
    assert own_inputs(item, reads) != before
    assert sys.modules["both_tracks"]  # imported through the plug-in path
    os.remove(rows["v00"]["ad_audio"])
