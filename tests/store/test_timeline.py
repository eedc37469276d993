"""One clock for all modalities: the resampling rules, and a real demo clip end to end.

The real clip is the demo's rocket launch (real_renpy_oa4_launch, 8 s): its soundtrack has a
spoken countdown that the packaged Whisper tiny.en transcribes into timed segments, so frames
(EfficientNet-Lite0), audio windows (YAMNet) and a transcript all exist for one video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trimodal.store import features as store
from trimodal.store.timeline import (
    bin_edges,
    frames_in_bins,
    segments_in_bins,
    timeline,
    windows_in_bins,
)

ROOT = Path(__file__).resolve().parents[2]
CLIP_ID = "real_renpy_oa4_launch"


def test_frames_are_averaged_in_the_bin_of_their_time():
    edges = bin_edges(4.0, 1.0)
    t = np.array([0.0, 0.5, 0.99, 2.0, 3.5])
    X = np.arange(10, dtype=float).reshape(5, 2)
    values, count = frames_in_bins(X, np.stack([t, t + 0.5], 1), edges)
    assert count.tolist() == [3, 0, 1, 1]
    np.testing.assert_allclose(values[0], X[:3].mean(axis=0))
    assert np.isnan(values[1]).all()
    np.testing.assert_allclose(values[3], X[4])


def test_audio_windows_are_weighted_by_their_overlap():
    edges = bin_edges(2.0, 1.0)
    times = np.array([[0.0, 0.96], [0.48, 1.44], [0.96, 1.92]])
    X = np.array([[1.0], [2.0], [4.0]])
    values, covered = windows_in_bins(X, times, edges)
    # bin [0, 1): 0.96 s of window 0, 0.52 s of window 1, 0.04 s of window 2
    w = np.array([0.96, 0.52, 0.04])
    assert values[0, 0] == pytest.approx((w @ X[:, 0]) / w.sum())
    assert covered[0] == pytest.approx(w.sum())
    w = np.array([0.0, 0.44, 0.92])
    assert values[1, 0] == pytest.approx((w @ X[:, 0]) / w.sum())


def test_segments_land_in_every_bin_they_overlap():
    edges = bin_edges(6.0, 1.0)
    seg = pd.DataFrame(
        {"start": [3.2, 0.5, 5.0], "end": [4.0, 2.1, 5.0], "text": ["c", "a b", "d"]}
    )
    text, count = segments_in_bins(seg, edges)
    assert text == ["a b", "a b", "a b", "c", "", "d"]
    assert count.tolist() == [1, 1, 1, 1, 0, 1]


@pytest.fixture(scope="module")
def launch_stores(tmp_path_factory):
    """effnet, yamnet and whisper (soundtrack) stores of the rocket-launch clip, made by the
    real extractors and aggregated as the workflow's store rule does."""
    from trimodal.stages.extract import extract_one
    from trimodal.stages.probe import probe_video

    sheet = pd.read_csv(ROOT / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False)
    row = sheet.set_index("video_id").loc[CLIP_ID]
    video = str(ROOT / row["video"])
    d = tmp_path_factory.mktemp("timeline")
    probe = d / "probe.json"
    info = probe_video(CLIP_ID, video, None, str(probe))
    specs = {
        "effnet": ("frame_embedding", "video", "efficientnet-lite0",
                   {"fps": 2.0, "max_frames": 32, "batch_size": 16}),
        "yamnet": ("yamnet", "audio", "packaged:yamnet-int8-onnx", {"source": "soundtrack"}),
        "whisper_soundtrack": ("whisper", "audio", "tiny.en",
                               {"source": "soundtrack", "vad": True, "beam_size": 1}),
    }  # fmt: skip
    stores = {}
    for name, (kind, modality, model, params) in specs.items():
        per_video = d / name / f"{CLIP_ID}.h5"
        assert extract_one(
            video_id=CLIP_ID, row={"video": video}, probe_json=str(probe),
            output=str(per_video), extractor=name, kind=kind, modality=modality, model=model,
            params=params, device="cpu",
        ), name  # fmt: skip
        stores[name] = d / f"{name}.h5"
        store.aggregate([per_video], stores[name])
    return stores, float(info["video"]["duration"])


@pytest.mark.slow
def test_timeline_of_a_real_clip_puts_every_modality_on_one_clock(launch_stores):
    stores, duration = launch_stores
    step = 0.5
    tl = timeline(CLIP_ID, stores, step=step, duration=duration)
    assert set(tl.tracks) == {"effnet", "yamnet", "whisper_soundtrack"}
    assert {n: t.kind for n, t in tl.tracks.items()} == {
        "effnet": "frames", "yamnet": "audio", "whisper_soundtrack": "transcript",
    }  # fmt: skip
    n_bins = int(np.ceil(duration / step))
    assert tl.edges[0] == 0 and tl.edges[-1] >= duration > tl.edges[-2]
    # video, audio and transcript tracks are resampled to the same bins over the same span
    df = tl.to_frame()
    assert len(df) == n_bins
    for name, tr in tl.tracks.items():
        assert len(tr.weight) == n_bins, name
        if tr.values is not None:
            assert tr.values.shape[0] == n_bins
    # the frames reach from the first bin to the last
    frames, ftimes = store.load_windows(stores["effnet"], CLIP_ID)
    video = tl.tracks["effnet"]
    assert video.weight[0] > 0 and video.weight[-1] > 0
    assert not np.isnan(video.values[[0, -1]]).any()
    # the soundtrack too, up to its last whole 0.96 s window (YAMNet drops a partial tail);
    # every second of every window inside the clock is counted once
    audio = tl.tracks["yamnet"]
    _, atimes = store.load_windows(stores["yamnet"], CLIP_ID)
    covered = np.flatnonzero(audio.weight > 0)
    assert covered[0] == 0 and np.all(np.diff(covered) == 1)
    assert duration - tl.edges[covered[-1] + 1] < 0.96
    inside = np.clip(atimes, 0, tl.edges[-1])
    assert audio.weight.sum() == pytest.approx((inside[:, 1] - inside[:, 0]).sum())
    assert np.isnan(audio.values[audio.weight == 0]).all()
    assert not np.isnan(audio.values[covered]).any()
    assert tl.tracks["effnet"].weight.sum() == len(frames)  # every frame in exactly one bin
    b = tl.bin_of(ftimes[3, 0])
    in_bin = (ftimes[:, 0] >= tl.edges[b]) & (ftimes[:, 0] < tl.edges[b + 1])
    np.testing.assert_allclose(
        tl.tracks["effnet"].values[b], frames[in_bin].mean(axis=0), rtol=1e-5
    )
    # each transcript segment lands in exactly the bins its timestamps overlap
    segments = store.load_table(stores["whisper_soundtrack"], "segments")
    assert len(segments) >= 1
    text = tl.tracks["whisper_soundtrack"].text
    for s in segments.itertuples():
        overlapping = [
            i for i in range(n_bins) if tl.edges[i] < s.end and tl.edges[i + 1] > s.start
        ]
        assert overlapping, s
        for i in range(n_bins):
            assert (s.text.strip() in text[i]) == (i in overlapping), (s, i, text[i])
    assert df.filter(like="whisper_soundtrack:text").shape[1] == 1


@pytest.mark.slow
def test_timeline_reads_a_folder_and_skips_stores_without_a_time_axis(launch_stores, tmp_path):
    stores, duration = launch_stores
    folder = tmp_path / "features"
    folder.mkdir()
    for name, path in stores.items():
        (folder / f"{name}.h5").symlink_to(path)
    pooled_only = folder / "sbert.h5"
    per_video = tmp_path / "sbert_one.h5"
    from trimodal.extractors.base import Features

    store.write_video_file(
        per_video, CLIP_ID, {"extractor": "sbert", "modality": "text"},
        features=Features(pooled={"mean": np.ones(4)}),
    )  # fmt: skip
    store.aggregate([per_video], pooled_only)
    tl = timeline(CLIP_ID, folder, step=1.0)
    assert set(tl.tracks) == set(stores) and tl.skipped == {"sbert": "no time axis (pooled only)"}
    # without a duration, the clock ends at the latest frame, window or segment end
    latest = max(
        store.load_windows(stores["effnet"], CLIP_ID)[1][:, 0].max(),
        store.load_windows(stores["yamnet"], CLIP_ID)[1][:, 1].max(),
        store.load_table(stores["whisper_soundtrack"], "segments")["end"].max(),
    )
    assert tl.edges[-2] <= latest <= tl.edges[-1]  # the last bin holds the latest instant
    assert timeline("no_such_video", folder).skipped["effnet"] == "no record for this video"
