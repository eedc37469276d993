"""Segment rows (sheet columns start/end): a row is a time span of its video, checked by the
probe, and every extractor reads only that span, with times from its start.

The features of a segment must equal those of the same span cut out with ffmpeg: frames from a
lossless (FFV1) cut at a frame boundary, audio from a sample-exact `atrim` cut to a WAV.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from trimodal.corpus.sheet import SheetError, load_sheet, row_span
from trimodal.domain import VideoItem, video_to_track
from trimodal.media.audio import SAMPLE_RATE, stream_audio
from trimodal.media.frames import sample_frames
from trimodal.stages.extract import extract_one
from trimodal.stages.probe import probe_video
from trimodal.store import features as store

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "resources/demo/real/real_openboard_wannaworktogether.mp4"  # 29.97 fps, 180 s
#: a frame boundary (frame 180 at 30000/1001 fps) and a whole number of 16 kHz samples
SPAN = (6.006, 13.013)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """full.mkv: 20 s of a real video, lossless (FFV1, 16 kHz PCM, first frame at 0); the
    span cut out of it by ffmpeg: cut.mkv (frames, lossless) and cut.wav (exact samples)."""
    if not SOURCE.exists() or not shutil.which("ffmpeg"):
        pytest.skip("demo corpus or ffmpeg missing")
    d = tmp_path_factory.mktemp("segments")
    full, cut_v, cut_a = d / "full.mkv", d / "cut.mkv", d / "cut.wav"
    ffmpeg("-i", str(SOURCE), "-t", "20", "-c:v", "ffv1", "-c:a", "pcm_s16le", "-ar", "16000",
           "-ac", "1", str(full))  # fmt: skip
    length = f"{SPAN[1] - SPAN[0]:.3f}"
    ffmpeg("-ss", f"{SPAN[0]}", "-i", str(full), "-t", length, "-an", "-c:v", "ffv1", str(cut_v))
    lo, hi = (round(t * SAMPLE_RATE) for t in SPAN)
    ffmpeg("-i", str(full), "-vn", "-af", f"atrim=start_sample={lo}:end_sample={hi}",
           "-c:a", "pcm_s16le", str(cut_a))  # fmt: skip
    return {"full": full, "cut_video": cut_v, "cut_audio": cut_a, "dir": d}


# ------------------------------------------------------------------------------ decoding


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_span_frames_are_the_cut_videos_frames(media, backend):
    seg = list(sample_frames(media["full"], fps=1.0, span=SPAN, backend=backend))
    cut = list(sample_frames(media["cut_video"], fps=1.0, backend=backend))
    assert len(seg) == len(cut) == 8  # 0, 1, ... 7 s of a 7.007 s span
    assert [f.index - seg[0].index for f in seg] == [f.index for f in cut]
    assert seg[0].index == 180  # the frame at the span's start, not the video's first
    np.testing.assert_allclose([f.time for f in seg], [f.time for f in cut], atol=1e-3)
    for a, b in zip(seg, cut, strict=True):
        assert np.array_equal(a.rgb, b.rgb)


def test_span_audio_is_the_exact_wav_cut(media):
    stats = {}
    seg = np.concatenate(list(stream_audio(media["full"], span=SPAN, chunk_s=1.3, stats=stats)))
    # the segment's own length is what it declares: a whole segment is no partial decode
    assert stats["duration_declared"] == pytest.approx(SPAN[1] - SPAN[0], abs=0.05)
    assert not stats["partial"]
    cut = np.concatenate(list(stream_audio(media["cut_audio"])))
    whole = np.concatenate(list(stream_audio(media["full"])))
    lo, hi = (round(t * SAMPLE_RATE) for t in SPAN)
    assert len(seg) == hi - lo
    assert np.array_equal(seg, cut)
    assert np.array_equal(seg, whole[lo:hi])


def test_span_past_the_audio_is_a_clear_error(media):
    from trimodal.domain import ExtractionError

    with pytest.raises(ExtractionError, match="no audio sample in the segment"):
        list(stream_audio(media["full"], span=(30.0, 40.0)))


# ------------------------------------------------------------------------------ probe, sheet


def test_probe_checks_the_span_lies_inside_the_video(media, tmp_path):
    ok = probe_video("a", str(media["full"]), None, str(tmp_path / "a.json"), span=SPAN)
    assert ok["video"]["ok"] and ok["span"] == list(SPAN)
    bad = probe_video("b", str(media["full"]), None, str(tmp_path / "b.json"), span=(15, 25))
    assert not bad["video"]["ok"] and bad["video"]["stage"] == "span"
    assert "segment 15-25 s does not lie inside the video (0-20.0" in bad["video"]["reason"]


def test_sheet_start_end_are_checked_per_row(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    p = tmp_path / "s.tsv"
    p.write_text(
        "video_id\tvideo\tstart\tend\n"
        "ok\ta.mp4\t1.5\t4\n"
        "whole\ta.mp4\t\t\n"
        "swapped\ta.mp4\t4\t1\n"
        "text\ta.mp4\tone\t2\n"
        "half\ta.mp4\t3\t\n"
        "negative\ta.mp4\t-1\t2\n"
    )
    with pytest.raises(SheetError) as e:
        load_sheet(p, base_dir=tmp_path)
    msg = str(e.value)
    assert "4 problem(s) on 4 line(s)" in msg
    assert "row 3 (line 4), columns start/end: start 4 is not before end 1" in msg
    assert "row 4 (line 5), column start: 'one' is not a number of seconds" in msg
    assert "row 5 (line 6), column end: empty, but start is given" in msg
    assert "row 6 (line 7), column start: '-1' must be a finite number of seconds >= 0" in msg
    p.write_text("video_id\tvideo\tstart\tend\nok\ta.mp4\t1.5\t4\nwhole\ta.mp4\t\t\n")
    df = load_sheet(p, base_dir=tmp_path)
    assert row_span(df.loc["ok"]) == (1.5, 4.0) and row_span(df.loc["whole"]) is None


def test_video_to_track_maps_video_time_onto_an_ad_track_with_a_pause():
    # an extended clip of 3 s at video time 10: the track runs 10 -> 13 while the video waits
    knots = {"track": [0.0, 10.0, 13.0, 30.0], "video": [0.0, 10.0, 10.0, 27.0]}
    assert video_to_track(5.0, knots) == 5.0
    assert video_to_track(10.0, knots) == 10.0  # the clip paused at 10 s belongs to a span from 10
    assert video_to_track(12.0, knots) == 15.0
    assert video_to_track(27.0, knots) == 30.0
    item = VideoItem("v", span=(10.0, 12.0), ad_map=None)
    assert item.audio_span("ad_audio") == (10.0, 12.0)


def test_the_ad_tracks_span_goes_through_its_ad_map(tmp_path):
    ad_map = tmp_path / "v.admap.json"
    ad_map.write_text(json.dumps({"track": [0, 10, 13, 30], "video": [0, 10, 10, 27]}))
    item = VideoItem("v", span=(10.0, 12.0), ad_map=str(ad_map))
    assert item.audio_span("ad_audio") == (10.0, 15.0)  # the paused clip, then 2 s more
    assert item.audio_span("soundtrack") == (10.0, 12.0)


# ------------------------------------------------------------------------------ extractors


def _extract(name, kind, model, params, video, out_dir, span=None):
    probe_json = out_dir / f"{name}_{Path(video).stem}_{bool(span)}.probe.json"
    probe_video("v", str(video), None, str(probe_json), span=span)
    out = out_dir / f"{name}_{Path(video).stem}_{bool(span)}.h5"
    ok = extract_one(
        video_id="v",
        row={"video": str(video), "span": span},
        probe_json=str(probe_json),
        output=str(out),
        extractor=name,
        kind=kind,
        modality="video" if kind == "frame_embedding" else "audio",
        model=model,
        params=params,
        device="cpu",
    )
    assert ok, store.read_video_file(out)["attrs"]
    return store.read_video_file(out)


@pytest.mark.slow
def test_segment_features_equal_those_of_the_ffmpeg_cut(media, tmp_path):
    """EfficientNet-Lite0 frames and YAMNet windows (packaged weights) of a segment row equal
    those of the same span cut out with ffmpeg, times relative to the span's start."""
    effnet = ("effnet", "frame_embedding", "efficientnet-lite0",
              {"fps": 1.0, "max_frames": 16, "batch_size": 8, "image_size": 224,
               "backend": "pyav"})  # fmt: skip
    seg = _extract(*effnet, media["full"], tmp_path, span=SPAN)
    cut = _extract(*effnet, media["cut_video"], tmp_path)
    assert seg["windows"].shape == cut["windows"].shape == (8, 1280)
    np.testing.assert_allclose(seg["windows"], cut["windows"], atol=1e-5)
    np.testing.assert_allclose(seg["times"], cut["times"], atol=1e-3)
    assert (seg["attrs"]["meta_span_start"], seg["attrs"]["meta_span_end"]) == SPAN

    yamnet = ("yamnet", "yamnet", "packaged:yamnet-int8-onnx",
              {"source": "soundtrack", "top_k": 5})  # fmt: skip
    seg = _extract(*yamnet, media["full"], tmp_path, span=SPAN)
    cut = _extract(*yamnet, media["cut_audio"], tmp_path)
    whole = _extract(*yamnet, media["full"], tmp_path)
    assert len(seg["windows"]) == len(cut["windows"]) > 5
    np.testing.assert_array_equal(seg["windows"], cut["windows"])
    np.testing.assert_array_equal(seg["times"], cut["times"])
    assert seg["times"][0, 0] == 0.0 and len(whole["windows"]) > len(seg["windows"])


def test_extract_writes_a_span_error_record_for_a_segment_outside_the_video(media, tmp_path):
    probe_json = tmp_path / "p.json"
    probe_video("v", str(media["full"]), None, str(probe_json), span=(18.0, 26.0))
    out = tmp_path / "v.h5"
    ok = extract_one(
        video_id="v",
        row={"video": str(media["full"])},
        probe_json=str(probe_json),
        output=str(out),
        extractor="effnet",
        kind="frame_embedding",
        modality="video",
        model="efficientnet-lite0",
        params={"fps": 1.0},
    )
    attrs = store.read_video_file(out)["attrs"]
    assert not ok and attrs["stage"] == "span"
    assert "does not lie inside the video" in attrs["reason"]
    assert json.loads(probe_json.read_text())["span"] == [18.0, 26.0]
