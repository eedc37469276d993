"""Demo corpus builder, bad-input makers and package fetch (on the real fetched media)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from trimodal.corpus import badinputs
from trimodal.corpus.demo import (
    CATEGORIES,
    COLUMNS,
    REAL_CLIPS,
    build_demo_corpus,
    mentions_label,
    qabcs_items,
    read_sheet,
)
from trimodal.corpus.fetch import DEBS, _merge_into, ensure_fetched
from trimodal.media.probe import probe

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "ffmpeg"], capture_output=True).returncode != 0,
    reason="ffmpeg not installed",
)


@pytest.fixture(scope="module")
def built(real_media: Path, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("demo_a")
    df = build_demo_corpus(
        real_media, out / "demo", out / "videos.tsv", per_category=2, base=out, progress=False
    )
    return out, df


def test_sheet_columns_ids_and_paths(built):
    out, df = built
    sheet = read_sheet(out / "videos.tsv")
    assert list(sheet.columns) == COLUMNS
    assert sheet.equals(df.astype(str))
    assert sheet["video_id"].is_unique
    assert all(re.fullmatch(r"[a-z0-9_-]+", v) for v in sheet["video_id"])
    for col in ("video", "ad_audio"):
        for p in sheet[col]:
            if p:
                assert not Path(p).is_absolute()  # relative to the given base
                assert (out / p).is_file(), p
    labelled = sheet[sheet["label"] != ""]
    assert set(labelled["label"]) == set(CATEGORIES)
    assert (labelled["label"].value_counts() == 2).all()
    assert "food" not in set(sheet["label"])
    unlabelled = sheet[sheet["label"] == ""]
    assert set(unlabelled["video_id"]) == set(REAL_CLIPS) | {"bad_truncated", "bad_noaudio"}


def test_descriptions_never_name_the_label(built):
    _, df = built
    labelled = df[df["label"] != ""]
    assert (labelled["description"].str.len() > 20).all()
    for desc, label in zip(labelled["description"], labelled["label"], strict=True):
        assert not mentions_label(desc, label)
        assert label.rstrip("s") not in desc.lower()


def test_mentions_label_catches_word_and_synonyms():
    assert mentions_label("A toy car", "toys")
    assert mentions_label("Two Animals at play", "animals")
    assert mentions_label("a musical box", "instrument")
    assert not mentions_label("A close-up picture of the trumpet", "animals")  # 'pet' inside


def test_every_item_has_picture_noise_and_speech(real_media):
    items = qabcs_items(real_media)
    assert set(items) == set(CATEGORIES)
    for cat, lst in items.items():
        assert len(lst) >= 15, cat  # enough for the default per_category
        for it in lst:
            assert it.picture.parent.name == cat
            assert it.noise.is_file() and it.speech.is_file()
    angelfish = [it for it in items["animals"] if it.name == "angelfish"]
    assert angelfish and angelfish[0].noise.name == "fish.ogg"  # abc1.json mapping, not stem


def test_clips_have_moving_video_and_real_sound(built):
    out, df = built
    for _, row in df[df["label"] != ""].iterrows():
        info = probe(out / row["video"])
        assert info["ok"], info
        assert info["video"]["codec"] == "h264" and info["video"]["height"] == 240
        assert info["audio"]["codec"] == "aac"
        assert info["duration"] == pytest.approx(4.0, abs=0.1)
    first = out / df.loc[0, "video"]
    with av.open(str(first)) as c:
        frames = [f.to_ndarray(format="gray").astype(float) for f in c.decode(video=0)]
        assert len(frames) == 100
    assert np.abs(frames[0] - frames[-1]).mean() > 2.0  # the zoom moves the picture
    with av.open(str(first)) as c:
        sound = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
    assert np.sqrt(np.mean(sound**2)) > 1e-3


def test_ad_audio_speaks(built):
    out, df = built
    for p in df.loc[df["label"] != "", "ad_audio"]:
        wav, sr = sf.read(out / p)
        assert sr == 16000 and wav.ndim == 1
        assert 0.2 < len(wav) / sr < 10
        assert np.sqrt(np.mean(wav**2)) > 0.01, p


def test_real_and_bad_rows(built):
    out, df = built
    rows = df.set_index("video_id")
    for vid in REAL_CLIPS:
        info = probe(out / rows.loc[vid, "video"])
        assert info["ok"] and info["video"] and info["audio"], (vid, info["reason"])
        assert rows.loc[vid, "label"] == "" and rows.loc[vid, "ad_audio"] == ""
    assert not probe(out / rows.loc["bad_truncated", "video"])["ok"]
    noaudio = probe(out / rows.loc["bad_noaudio", "video"])
    assert noaudio["ok"] and noaudio["video"] is not None and noaudio["audio"] is None


def test_build_is_deterministic_and_idempotent(built, real_media, tmp_path):
    out_a, df_a = built
    df_b = build_demo_corpus(
        real_media,
        tmp_path / "demo",
        tmp_path / "videos.tsv",
        per_category=2,
        base=tmp_path,
        real=False,
        progress=False,
        categories=("misc",),
    )
    labelled = df_a[df_a["label"] == "misc"]
    assert list(labelled["video_id"]) == list(df_b.loc[df_b["label"] != "", "video_id"])
    for col in ("video", "ad_audio"):
        for p in labelled[col]:
            assert (out_a / p).read_bytes() == (tmp_path / p).read_bytes(), p
    clip = tmp_path / labelled["video"].iloc[0]
    mtime = clip.stat().st_mtime_ns
    build_demo_corpus(
        real_media,
        tmp_path / "demo",
        None,
        per_category=2,
        real=False,
        progress=False,
        categories=("misc",),
    )
    assert clip.stat().st_mtime_ns == mtime  # present outputs are not rebuilt


@pytest.fixture(scope="module")
def bad(mimetype_clips, tmp_path_factory) -> dict[str, Path]:
    return badinputs.make_all(mimetype_clips / "mp4.mp4", tmp_path_factory.mktemp("bad"))


def test_bad_inputs_probe_as_expected(bad):
    assert set(bad) == set(badinputs.CASES)
    fails = {"truncated", "zero_length", "text_as_mp4"}
    for case, path in bad.items():
        assert path.is_file(), case
        assert probe(path)["ok"] is (case not in fails), case
    assert bad["zero_length"].stat().st_size == 0
    assert probe(bad["audio_only"])["video"] is None
    assert probe(bad["audio_only"])["audio"] is not None
    assert probe(bad["no_audio"])["audio"] is None
    assert probe(bad["uhd_4k"])["video"]["height"] == 2160
    assert probe(bad["surround51"])["audio"]["channels"] == 6
    assert probe(bad["mjpeg"])["video"]["codec"] == "mjpeg"
    assert probe(bad["cinepak"])["video"]["codec"] == "cinepak"
    assert probe(bad["long"])["duration"] == pytest.approx(60, abs=1)


def test_byteflip_damages_frames(bad, mimetype_clips):
    src = (mimetype_clips / "mp4.mp4").read_bytes()
    flipped = bad["byteflip"].read_bytes()
    assert len(src) == len(flipped) and src != flipped
    assert src[:1000] == flipped[:1000]  # header intact


def test_rotated_and_vfr(bad):
    with av.open(str(bad["rotated"])) as c:
        frame = next(c.decode(video=0))
        assert abs(frame.rotation) == 90
    with av.open(str(bad["vfr"])) as c:
        s = c.streams.video[0]
        pts = [p.pts for p in c.demux(s) if p.pts is not None]
    steps = np.diff(sorted(pts))
    assert len(set(steps.tolist())) > 1  # frame intervals vary


def test_long_video_is_stream_copied_and_fast(mimetype_clips, tmp_path):
    import time

    t = time.perf_counter()
    out = badinputs.make_long_video(mimetype_clips / "mp4.mp4", tmp_path / "l.mp4", 2, None)
    assert time.perf_counter() - t < 10
    info = probe(out)
    assert info["duration"] == pytest.approx(120, abs=1)
    assert info["video"]["codec"] == "h264" and info["video"]["height"] == 320


def test_fetch_skips_present_packages_and_merges(tmp_path):
    root = tmp_path / "dl"
    witness = root / "extracted" / DEBS["node-opencv"]
    witness.parent.mkdir(parents=True)
    witness.write_bytes(b"x")
    assert ensure_fetched(root, debs=["node-opencv"], pypi=[]) == root / "extracted"
    assert (root / "markers" / "deb-node-opencv.done").is_file()
    assert not list((root / "debs").iterdir())  # nothing downloaded
    src = tmp_path / "src"
    (src / "usr/share/a").mkdir(parents=True)
    (src / "usr/share/a/f.txt").write_text("new")
    _merge_into(src, root / "extracted")
    assert (root / "extracted/usr/share/a/f.txt").read_text() == "new"
    assert witness.is_file()  # merging keeps what other packages put there
