"""QuerYD importer and AD-track assembly on a small corpus in the release's own formats.

The corpus (tests/queryd_fixture.py) is built from real demo-corpus videos and espeak-ng speech
clips, with a failed download, a partial download, a video without JSON, a JSON without clips,
a JSON that does not parse, a non-English video, a clip whose WAV is absent, and pickle keys
without a video.
"""

from __future__ import annotations

import json
import os
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tests import queryd_fixture as qf
from trimodal.corpus import ad_track, queryd
from trimodal.corpus.sheet import ID_PATTERN, SheetError, load_sheet
from trimodal.domain import track_to_video, video_to_track

SR = 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("queryd")
    expected = qf.build_queryd(root / "download")
    df, report = queryd.import_queryd(
        root / "download", root / "out", labels=root / "download" / "labels.tsv"
    )
    return root, expected, df.set_index("group", drop=False), report


def _problems(report, ytid):
    return [p["reason"] for p in report["problems"] if p["id"] == ytid]


def test_rows_and_counts_per_cause(corpus):
    _, _, df, report = corpus
    c = report["counts"]
    assert c["listed"] == 8
    assert (c["video_ok"], c["video_partial"], c["video_missing"]) == (6, 1, 1)
    assert (c["with_json"], c["json_unreadable"], c["without_json"]) == (5, 1, 2)
    assert (c["with_clips"], c["with_ad_track"], c["clips_listed"]) == (4, 4, 8)
    assert (c["clips_used"], c["clips_missing"]) == (7, 1)
    assert (c["labelled"], c["label_from_json"], c["label_from_table"]) == (6, 5, 1)
    assert (c["split_train"], c["split_val"], c["split_test"], c["split_none"]) == (3, 2, 2, 1)
    assert (c["language_en"], c["language_fr"]) == (7, 1)  # of the 8 listed
    assert c["raw_keys_unlisted"] == 1
    # every listed id is a row but the one with nothing at all
    assert report["unusable"] == [
        {"id": qf.GONE, "reason": "no video file, no description, no AD track"}
    ]
    assert len(df) == c["rows"] == 7 and c["rows_missing_video"] == 1
    assert set(df.index) == {
        qf.FULL, qf.DASH, qf.FAILED, qf.NOJSON, qf.NOCLIPS, qf.FRENCH, qf.BADJSON
    }  # fmt: skip


def test_report_names_every_problem(corpus):
    _, _, _, report = corpus
    assert any("partial download" in r for r in _problems(report, qf.FAILED))
    assert any("no downloaded file" in r for r in _problems(report, qf.GONE))
    assert _problems(report, qf.NOJSON) == ["no JSON"]
    assert _problems(report, qf.NOCLIPS) == ["no audio clips in the JSON"]
    assert any(r.startswith("JSON does not parse") for r in _problems(report, qf.BADJSON))
    (absent,) = _problems(report, qf.DASH)
    assert absent.startswith(f"clip listed but absent: wav-files/video-{qf.DASH}/audio-")
    assert _problems(report, qf.UNLISTED) == ["pickle key with no listed video"]


def test_sheet_values(corpus):
    root, expected, df, _ = corpus
    assert list(df.columns) == queryd.SHEET_COLUMNS
    assert (df["video_id"] == "video-" + df["group"]).all()
    assert df["video_id"].str.fullmatch(ID_PATTERN).all()  # '-dashLead02' too
    assert df["label"].to_dict() == expected["labels"]
    assert df.loc[qf.FRENCH, "language"] == "fr"
    assert set(df.drop(index=qf.FRENCH)["language"]) == {"en"}
    assert df["split"].to_dict() == {k: v for k, v in expected["splits"].items() if k in df.index}
    assert df.loc[qf.NOJSON, "video"].endswith("video-noJSONvid04.webm")  # any extension
    assert not Path(df.loc[qf.FAILED, "video"]).exists()  # the failed download's row is kept
    with_ad = {qf.FULL, qf.DASH, qf.FAILED, qf.FRENCH}
    assert set(df.index[df["ad_audio"] != ""]) == with_ad
    assert set(df.index[df["ad_map"] != ""]) == with_ad
    assert all(Path(p).is_file() for p in df.loc[sorted(with_ad), "ad_audio"])
    assert (df["start"] == "").all() and (df["end"] == "").all()
    # the pickle's captions, in time order
    assert df.loc[qf.FULL, "description"] == " ".join(
        s.sentence.lower().rstrip(".") for s in qf.FULL_CLIPS
    )
    assert df.loc[qf.NOCLIPS, "description"] == ""


def test_sheet_loads_with_trimodal_sheet(corpus):
    root, _, df, _ = corpus
    sheet = root / "out" / "videos.tsv"
    loaded = load_sheet(sheet, check_files=False)
    assert len(loaded) == len(df)
    assert {"group", "language", "split", "start", "end", "ad_map"} <= set(loaded.columns)
    # without missing_media: skip, the failed download is the one sheet error
    with pytest.raises(SheetError) as e:
        load_sheet(sheet)
    assert "1 problem(s)" in str(e.value) and f"video-{qf.FAILED}" in str(e.value)


def test_zip_json_and_drop_missing(tmp_path):
    qf.build_queryd(tmp_path / "d", json_zip=True, segments=False)
    assert not (tmp_path / "d" / "describe-api-results").exists()
    df, report = queryd.import_queryd(
        tmp_path / "d", tmp_path / "o", drop_missing=True, build_ad=False
    )
    c = report["counts"]
    assert (c["with_json"], c["json_unreadable"], c["label_from_json"]) == (5, 1, 5)
    assert qf.FAILED not in set(df["group"])
    assert {"id": qf.FAILED, "reason": "no video file (--drop-missing)"} in report["unusable"]


def test_label_from_the_category_id_when_the_name_is_absent():
    assert queryd._label_of({"category_id": "15"}) == "Pets & Animals"
    assert queryd._label_of({"category_id": 10, "category": "Musique"}) == "Musique"
    assert queryd._label_of({"category_id": 999}) == queryd._label_of({}) == ""


def test_bad_inputs_are_reported_not_fatal(tmp_path):
    qf.build_queryd(tmp_path / "d", segments=False)
    (tmp_path / "d" / "times_captions_combined_filtered-v2.pkl").write_bytes(b"not a pickle")
    with open(tmp_path / "d" / "confidence_captions_combined_filtered-v2.pkl", "wb") as f:
        pickle.dump(["a", "list"], f)
    (tmp_path / "d" / "languages.json").write_text("{broken")
    clip = next((tmp_path / "d" / "wav-files" / f"video-{qf.FULL}").glob("*.wav"))
    clip.write_bytes(b"RIFF....garbage")
    df, report = queryd.import_queryd(tmp_path / "d", tmp_path / "o", build_ad=True)
    whats = {p["what"] for p in report["problems"]}
    assert {"times_captions_combined_filtered-v2.pkl", "languages.json"} <= whats
    assert "confidence_captions_combined_filtered-v2.pkl" in whats
    assert any(r.startswith("clip unreadable") for r in _problems(report, qf.FULL))
    assert report["counts"]["clips_unusable"] == 1
    assert len(df) == 7  # the rest imported


def test_segments(tmp_path):
    expected = qf.build_queryd(tmp_path / "d")
    df, report = queryd.import_queryd(tmp_path / "d", tmp_path / "o", segments=True)
    assert report["mode"] == "segments"
    assert report["counts"]["segments"] == len(df) == len(expected["segments"]) - 1
    assert report["counts"]["segments_unusable"] == 1  # the unlisted video's
    assert df["video_id"].is_unique and df["video_id"].str.fullmatch(ID_PATTERN).all()
    assert (df["video_id"].str.split("__").str[0] == "video-" + df["group"]).all()
    full = df[df["group"] == qf.FULL].set_index("video_id")
    for rec in expected["clips"][qf.FULL]:
        row = full.loc[f"video-{qf.FULL}__{rec['file_name'].removesuffix('.wav').split('_')[-1]}"]
        assert float(row["start"]) == pytest.approx(rec["start_time"], abs=1e-3)
        assert float(row["end"]) == pytest.approx(rec["start_time"] + rec["duration"], abs=1e-3)
        assert row["split"] == "train" and row["description"] == rec["label"].lower().rstrip(".")
    old = full.loc[f"video-{qf.FULL}__2"]  # <ytid>-<n>: the n-th description's times
    assert (float(old["start"]), float(old["end"]), old["split"]) == (5.0, 7.0, "val")
    assert set(df[df["group"] == qf.DASH]["split"]) == {"test"}
    # one video's segments share its video file and AD track
    assert full["video"].nunique() == 1 and full["ad_audio"].nunique() == 1
    # a span past the video's end (as its JSON gives it) is cut there, and said so
    path = tmp_path / "d" / "describe-api-results" / f"assets-{qf.FULL}.json"
    path.write_text(path.read_text().replace('"duration": 12.0', '"duration": 10.5'))
    df, report = queryd.import_queryd(tmp_path / "d", tmp_path / "o2", segments=True)
    last = df.set_index("video_id").loc[f"video-{qf.FULL}__{0x5F03:024x}"]
    assert (last["start"], last["end"]) == ("9.500", "10.500")
    assert any("cut to the video's 10.5 s" in p["reason"] for p in report["problems"])


# --------------------------------------------------------------------------- AD tracks


def test_place_inline_extended_and_the_map():
    C = ad_track.Clip
    clips = [C(Path("a"), 1.0), C(Path("b"), 4.0, True), C(Path("c"), 5.0), C(Path("d"), 5.5),
             C(Path("e"), 20.0), C(Path("f"), 20.5)]  # fmt: skip
    placed, knots = ad_track.place(clips, [2.0, 3.0, 1.0, 1.0, 2.0, 2.0])
    starts = {p.clip.path.name: p.track_start for p in placed}
    # inline a stays; extended b at its start; c, d queue after it; e, f overlap (mixed)
    assert starts == {"a": 1.0, "b": 4.0, "c": 7.0, "d": 8.0, "e": 20.0, "f": 20.5}
    track, video = np.array(knots).T
    assert (np.diff(track) >= 0).all() and (np.diff(video) >= 0).all()
    f = track_to_video
    for name, p in starts.items():  # every clip's start maps back to its own video time
        v = next(c.start for c in clips if c.path.name == name)
        assert f(p, knots) == pytest.approx(v)
    assert f([4.5, 6.9], knots) == pytest.approx([4.0, 4.0])  # the video pauses
    # shifted speech at the video's pace (d), or squeezed up to where the next clip starts (c)
    assert f([7.5, 8.5], knots) == pytest.approx([5.25, 6.0])
    assert f(30.0, knots) == pytest.approx(30.0)  # caught up by the end
    assert video_to_track(5.0, knots) == pytest.approx(7.0)


def _onset(x: np.ndarray, start: int, thr: float = 0.02) -> int:
    return start + int(np.argmax(np.abs(x[start:]) > thr))


def test_ad_track_length_and_clip_placement(corpus):
    root, expected, df, _ = corpus
    x, sr = sf.read(df.loc[qf.FULL, "ad_audio"], dtype="float32")
    m = ad_track.load_map(df.loc[qf.FULL, "ad_map"])
    recs = expected["clips"][qf.FULL]
    lengths = [r["duration"] for r in recs]
    # placed by hand: the extended clip (4.0 s) holds the inline one of 5.0 s until it ends
    want = [1.0, 4.0, 4.0 + lengths[1], 9.5]
    assert want[2] + lengths[2] < 9.5  # so the last one keeps its own time
    assert sr == SR and len(x) == round(12.0 * SR)  # the video's 12 s (delay caught up)
    assert [c["track_start"] for c in m["clips"]] == pytest.approx(want, abs=1e-3)
    for r, t, placed in zip(recs, want, m["clips"], strict=True):
        clip, csr = sf.read(
            root / "download" / "wav-files" / f"video-{qf.FULL}" / f"audio-{r['file_name']}"
        )
        lead = int(np.argmax(np.abs(clip) > 0.02)) / csr  # espeak's leading silence
        got = _onset(x, int(round(t * SR) - 0.01 * SR)) / SR
        assert got == pytest.approx(t + lead, abs=0.01)
        assert track_to_video(placed["track_start"], m) == pytest.approx(r["start_time"])


def test_ad_track_resampled_once_equals_whole_clip(tmp_path):
    import soxr

    wav = qf.espeak(tmp_path / "s.wav", "Resampling in blocks gives the same samples.")
    clip, csr = sf.read(wav, dtype="float32")
    ad_track.build_track([ad_track.Clip(wav, 0.5)], tmp_path / "t.wav", block=1000)
    x, _ = sf.read(tmp_path / "t.wav", dtype="float32")
    whole = soxr.resample(clip, csr, SR)
    seg = x[int(0.5 * SR) : int(0.5 * SR) + len(whole)]
    assert np.abs(seg - whole[: len(seg)]).max() < 2e-3  # PCM-16 and stream edges
    assert np.abs(x[: int(0.5 * SR)]).max() == 0


def test_ad_track_memory_is_bounded(tmp_path):
    wav = qf.espeak(tmp_path / "s.wav", "A short clip on a long track.")
    clips = [ad_track.Clip(wav, t, extended=(i % 3 == 0)) for i, t in enumerate(range(0, 1200, 60))]
    tracemalloc.start()
    info = ad_track.build_track(clips, tmp_path / "t.wav", min_length=1200.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    whole = info["duration"] * SR * 4  # the track as one float32 array: 77 MB
    assert info["duration"] >= 1200.0 and peak < 8e6 < whole / 8, peak


def test_ad_track_rebuilt_only_when_clips_change(corpus, tmp_path):
    root, _, df, _ = corpus
    out = tmp_path / "again"
    queryd.import_queryd(root / "download", out)
    t0 = {p.name: p.stat().st_mtime_ns for p in (out / "ad").glob("*.wav")}
    _, report = queryd.import_queryd(root / "download", out)
    assert report["counts"]["ad_tracks_reused"] == 4 and "ad_tracks_built" not in report["counts"]
    clip = sorted((root / "download" / "wav-files" / f"video-{qf.DASH}").glob("*.wav"))[0]
    st = clip.stat()
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _, report = queryd.import_queryd(root / "download", out)
    assert (report["counts"]["ad_tracks_built"], report["counts"]["ad_tracks_reused"]) == (1, 3)
    t1 = {p.name: p.stat().st_mtime_ns for p in (out / "ad").glob("*.wav")}
    assert [k for k in t0 if t0[k] != t1[k]] == [f"video-{qf.DASH}.wav"]


def test_cli_prints_the_summary(corpus, tmp_path, capsys):
    root, _, _, _ = corpus
    assert queryd.main([str(root / "download"), str(tmp_path / "o"), "--sr", "8000"]) == 0
    text = capsys.readouterr().out
    assert "listed 8, downloaded 6 (failed 2), with JSON 5 (unreadable 1)" in text
    assert "split: train 3, val 2, test 2, none 1" in text
    assert sf.info(str(tmp_path / "o" / "ad" / f"video-{qf.FULL}.wav")).samplerate == 8000
    assert queryd.main([str(tmp_path / "nothing"), str(tmp_path / "o2")]) == 2


# --------------------------------------------------------------------------- timeline


def test_timeline_puts_ad_segments_at_video_time(corpus, tmp_path):
    from trimodal.domain import Features
    from trimodal.store import features as store
    from trimodal.store.timeline import timeline

    _, _, df, _ = corpus
    m = ad_track.load_map(df.loc[qf.FULL, "ad_map"])
    seg = pd.DataFrame(
        {"start": [c["track_start"] + 0.1 for c in m["clips"]],
         "end": [c["track_start"] + 1.0 for c in m["clips"]],
         "text": [f"clip{i}" for i in range(len(m["clips"]))]}
    )  # fmt: skip
    vid = f"video-{qf.FULL}"
    for name, source in (("whisper_ad", "ad_audio"), ("whisper_sound", "soundtrack")):
        store.write_video_file(
            tmp_path / f"{name}.h5", vid,
            {"modality": "audio", "params": {"source": source}},
            features=Features(text="", tables={"segments": seg}),
        )  # fmt: skip
    stores = {n: tmp_path / f"{n}.h5" for n in ("whisper_ad", "whisper_sound")}
    tl = timeline(vid, stores, step=0.5, duration=12.0, ad_map=df.loc[qf.FULL, "ad_map"])
    ad, sound = tl.tracks["whisper_ad"].text, tl.tracks["whisper_sound"].text
    shifted = m["clips"][2]  # the clip the extended one pushed later
    assert shifted["track_start"] - shifted["video_start"] > 1.0
    assert "clip2" in ad[tl.bin_of(shifted["video_start"] + 0.1)]  # at video time
    assert "clip2" not in sound[tl.bin_of(shifted["video_start"] + 0.1)]  # no map: track time
    assert "clip2" in sound[tl.bin_of(shifted["track_start"] + 0.1)]


@pytest.mark.slow
def test_whisper_hears_each_clip_at_its_video_time(corpus):
    """faster-whisper tiny.en (the packaged model) on the assembled track, with word times:
    each clip's words lie in its span of the track, and map back to the clip's video time."""
    import re

    from trimodal.extractors.whisper import WhisperExtractor

    _, expected, df, _ = corpus
    e = WhisperExtractor("tiny.en", {"beam_size": 1, "compute_type": "int8"})
    e.ensure_loaded()
    audio, sr = sf.read(df.loc[qf.FULL, "ad_audio"], dtype="float32")
    assert sr == SR
    segments, _ = e.model.transcribe(audio, beam_size=1, language="en", word_timestamps=True)
    words = [(w.start, w.end, w.word) for s in segments for w in s.words]
    m = ad_track.load_map(df.loc[qf.FULL, "ad_map"])

    def norm(text):
        return set(re.findall(r"[a-z]+", text.lower()))

    for rec, placed in zip(expected["clips"][qf.FULL], m["clips"], strict=True):
        t0, t1 = placed["track_start"], placed["track_start"] + placed["length"]
        inside = [w for w in words if t0 <= (w[0] + w[1]) / 2 <= t1]
        assert len(norm(" ".join(w[2] for w in inside)) & norm(rec["label"])) >= 2, (rec, inside)
        # on the track: the clip's first word where the clip was placed (espeak leads with
        # ~0.1 s of silence; Whisper's word times are ~0.1-0.3 s loose)
        assert t0 - 0.35 <= inside[0][0] <= t0 + 0.6, (rec, inside)
        # on the video's clock: every word inside the span the clip describes (one instant for
        # the extended clip, during which the video stands still)
        mids = track_to_video([(w[0] + w[1]) / 2 for w in inside], m)
        span_end = rec["start_time"] + (0.0 if rec["playback_type"] == "extended" else t1 - t0)
        assert (mids >= rec["start_time"] - 1e-6).all() and (mids <= span_end + 0.5).all(), (
            rec,
            list(zip(mids, inside, strict=True)),
        )


def test_ad_track_stereo_clip_at_the_track_rate_is_downmixed(tmp_path):
    t = np.arange(SR) / SR
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), SR)
    info = ad_track.build_track([ad_track.Clip(tmp_path / "st.wav", 0.25)], tmp_path / "t.wav")
    x, _ = sf.read(tmp_path / "t.wav")
    assert info["duration"] == pytest.approx(1.25) and len(x) == round(1.25 * SR)
    np.testing.assert_allclose(x[SR // 4 :], (left + right) / 2, atol=1e-4)


# --------------------------------------------------------------------------- issue 33


def test_malformed_records_are_reported_and_the_import_goes_on(tmp_path):
    """A clip that is not an object, a transcript that is not a list, audio_clips or
    audio_descriptions that are not lists, a clip without fields: each a reported problem;
    the record's good parts and every other video are still imported."""
    qf.build_queryd(tmp_path / "d", segments=False, bad_records=True)
    jsons = tmp_path / "d" / "describe-api-results"

    def edit(ytid, change):
        path = jsons / f"assets-{ytid}.json"
        rec = json.loads(path.read_text())
        change(rec["result"])
        path.write_text(json.dumps(rec))

    raw = tmp_path / "d" / "raw_captions_combined_filtered-v2.pkl"
    captions = pickle.loads(raw.read_bytes())
    del captions[f"video-{qf.BADCLIP}"]  # its text from the JSON, whose transcript is bad
    raw.write_bytes(pickle.dumps(captions))
    edit(qf.NOCLIPS, lambda r: r.update(audio_descriptions="not a list"))
    edit(qf.DASH, lambda r: r["audio_descriptions"][0].update(audio_clips={"a": 1}))
    edit(qf.FRENCH, lambda r: r["audio_descriptions"].insert(0, ["not", "an", "object"]))
    df, report = queryd.import_queryd(tmp_path / "d", tmp_path / "o")
    bad = _problems(report, qf.BADCLIP)
    assert sum("clip is not an object" in p for p in bad) == 2, bad  # "not a clip" and 42
    assert any("transcript is not a list" in p for p in bad), bad
    assert any("audio_descriptions is not a list" in p for p in _problems(report, qf.NOCLIPS))
    assert any("audio_clips is not a list" in p for p in _problems(report, qf.DASH))
    assert any("is not an object" in p for p in _problems(report, qf.FRENCH))
    assert report["counts"]["json_bad_fields"] >= 5
    rows = df.set_index("group")
    # the good clip of the bad record still makes its AD track; every usable video has a row
    assert rows.loc[qf.BADCLIP, "ad_audio"] and rows.loc[qf.BADCLIP, "label"] == ""
    assert rows.loc[qf.FRENCH, "ad_audio"]  # its good description is still chosen
    assert {qf.FULL, qf.DASH, qf.NOCLIPS, qf.FRENCH, qf.BADCLIP} <= set(rows.index)
    assert len(df) == 8
    # a record broken in a way no guard foresees is a problem of its own, not a crash
    edit(qf.FULL, lambda r: r["audio_descriptions"][0]["audio_clips"][0].update(start_time=[1]))
    df, report = queryd.import_queryd(tmp_path / "d", tmp_path / "o2")
    assert len(df) == 8 and any("clip without" in p for p in _problems(report, qf.FULL))


def test_segment_splits_from_the_segment_lists_or_else_the_videos(tmp_path):
    expected = qf.build_queryd(tmp_path / "d")
    df, report = queryd.import_queryd(tmp_path / "d", tmp_path / "o", segments=True)
    assert report["segment_splits"].startswith("segment lists")
    assert set(df[df["group"] == qf.DASH]["split"]) == {"test"}  # the lists', not the video's
    assert "splits from segment lists" in queryd.summary(report)
    for p in (tmp_path / "d" / "querydsegments").glob("*_list.txt"):
        p.unlink()  # a release with the segments pickle and no segment lists
    df, report = queryd.import_queryd(tmp_path / "d", tmp_path / "o2", segments=True)
    assert report["segment_splits"].startswith("the video's split")
    assert report["counts"].get("segments_split_none", 0) == 0
    for group, split in df.groupby("group")["split"]:
        assert set(split) == {expected["splits"][group]}, group
