"""Frame sampling: both back-ends give the same frames on real clips; rotation, VFR, resize."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from trimodal.extractors.base import ExtractionError
from trimodal.media.frames import sample_frames, target_times

CLIPS = [
    "mp4.mp4",
    "webm.webm",
    "ogg.ogv",
    "mov.mov",
    "flv.flv",
    "3gp.3gp",
]
OTHER = [
    "usr/share/planetblupi/movie/history2.mkv",
    "usr/share/kphotoalbum/demo/movie.avi",
    "usr/share/forensics-samples/original-files/movie2/movie-hello.mp4",
]


def _both(path, **kw):
    out = {}
    for backend in ("decord", "pyav"):
        s = sample_frames(path, backend=backend, **kw)
        out[backend] = (list(s), s.stats)
    return out


def _assert_same(out, max_mad=2.0):
    (fd, sd), (fp, sp) = out["decord"], out["pyav"]
    assert sd["backend"] == "decord" and sp["backend"] == "pyav"
    assert len(fd) == len(fp) > 0
    assert [f.index for f in fd] == [f.index for f in fp]
    np.testing.assert_allclose([f.time for f in fd], [f.time for f in fp], atol=0.02)
    for a, b in zip(fd, fp, strict=True):
        assert a.rgb.shape == b.rgb.shape and a.rgb.dtype == np.uint8
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).mean() < max_mad


@pytest.mark.parametrize("name", CLIPS + OTHER)
def test_backends_agree_on_real_clips(name, mimetype_clips, real_media):
    path = mimetype_clips / name if "/" not in name else real_media / name
    out = _both(path, fps=2.0)
    _assert_same(out)
    frames = out["pyav"][0]
    times = [f.time for f in frames]
    assert times == sorted(times) and times[0] == 0.0
    # 2 frames/s over the clip: duration * 2 frames, rounded up
    assert len(frames) == int(np.ceil(out["pyav"][1]["duration"] * 2 - 1e-9))
    # resized on decode, n_frames mode: same again
    out = _both(path, n_frames=5, size=96)
    _assert_same(out, max_mad=4.0)
    assert all(min(f.rgb.shape[:2]) == 96 for f in out["decord"][0])


def test_decord_unreadable_files_fall_back_to_pyav(mimetype_clips, real_media):
    # decord cannot seek in this mkv, and reports garbage timestamps (and wrong frames) on .mpg
    for path in (
        mimetype_clips / "mkv.mkv",
        real_media / "usr/share/games/fillets-ng/images/menu/intro.mpg",
    ):
        with pytest.raises(ExtractionError):
            list(sample_frames(path, fps=1.0, backend="decord"))
        s = sample_frames(path, fps=1.0, size=64)
        frames = list(s)
        assert s.stats["backend"] == "pyav" and len(frames) >= 3
        assert [f.index for f in frames] == sorted({f.index for f in frames})


def test_fixed_count_and_max_frames_cover_whole_video(real_media):
    path = real_media / "usr/share/forensics-samples/original-files/movie2/movie-hello.mp4"
    frames = list(sample_frames(path, n_frames=4, backend="pyav"))
    assert len(frames) == 4
    frames = list(sample_frames(path, fps=10.0, max_frames=6, size=(64, 48)))
    assert len(frames) == 6 and frames[0].rgb.shape == (48, 64, 3)
    assert frames[-1].time > 7.0  # the cap spreads frames over the 8.3 s, not the first 0.6 s


def test_target_times():
    np.testing.assert_allclose(target_times(2.5, 1.0, None, None), [0, 1, 2])
    np.testing.assert_allclose(target_times(2.0, 1.0, None, None), [0, 1])
    np.testing.assert_allclose(target_times(4.0, None, 4, None), [0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(target_times(100.0, 1.0, None, 4), [12.5, 37.5, 62.5, 87.5])


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_rotation_matches_ffmpeg_autorotate(angle, mimetype_clips, tmp_path):
    """A phone-style rotation tag: both back-ends give what the ffmpeg CLI displays."""
    src = mimetype_clips / "mp4.mp4"
    rot = tmp_path / f"rot{angle}.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", src, "-c", "copy",
         "-metadata:s:v:0", f"rotate={angle}", rot],
        check=True,
    )  # fmt: skip
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", rot, "-frames:v", "1", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    h, w = (560, 320) if angle % 180 else (320, 560)
    ref = np.frombuffer(raw, np.uint8).reshape(h, w, 3).astype(int)
    for backend in ("decord", "pyav"):
        first = next(iter(sample_frames(rot, fps=1.0, backend=backend)))
        assert first.rgb.shape == (h, w, 3)
        assert np.abs(first.rgb.astype(int) - ref).mean() < 1.0
    out = _both(rot, n_frames=3, size=100)
    _assert_same(out, max_mad=4.0)
    assert min(out["pyav"][0][0].rgb.shape[:2]) == 100


def test_variable_frame_rate_uses_timestamps(mimetype_clips, tmp_path):
    """Frames 0-59 at 30 fps, then 10 fps: the frame shown at t=5 s is frame 90, not 150."""
    vfr = tmp_path / "vfr.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", mimetype_clips / "mp4.mp4", "-an", "-vf",
         "setpts='if(lt(N,60),N/30,2+(N-60)/10)/TB'", "-fps_mode", "vfr",
         "-c:v", "libx264", "-preset", "ultrafast", vfr],
        check=True,
    )  # fmt: skip
    for backend in ("decord", "pyav"):
        frames = list(sample_frames(vfr, fps=1.0, backend=backend))
        by_time = {round(f.time): f.index for f in frames}
        assert by_time[1] == 30 and by_time[5] == 90 and by_time[10] == 140, backend
    _assert_same(_both(vfr, fps=1.0))


def test_truncated_mp4_stops_at_last_good_frame(real_media, tmp_path):
    """moov atom first, file cut at 60 %: the first ~60 % decodes, the rest is reported."""
    src = real_media / "usr/share/forensics-samples/original-files/movie2/movie-hello.mp4"
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    for backend in ("auto", "pyav"):
        s = sample_frames(cut, fps=2.0, size=64, backend=backend)
        frames = list(s)
        assert 6 <= len(frames) < 16, backend  # 8.3 s at 2/s = 17 frames when whole
        assert s.stats["stopped_early"] and s.stats["error"]
        assert s.stats["n_sampled"] == len(frames)


def test_truncated_mp4_without_index_is_an_extraction_error(mimetype_clips, tmp_path):
    """mp4.mp4 stores its index (moov) at the end: cut at 60 % nothing is decodable."""
    data = (mimetype_clips / "mp4.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(ExtractionError):
        list(sample_frames(cut, fps=1.0))


def test_no_frames_inputs_raise(tmp_path):
    audio = tmp_path / "audio_only.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", audio],
        check=True,
    )  # fmt: skip
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video " * 1000)
    for path in (audio, empty, junk, tmp_path / "missing.mp4"):
        for backend in ("auto", "pyav"):
            with pytest.raises(ExtractionError):
                list(sample_frames(path, fps=1.0, backend=backend))


FOURK_CHILD = """
import sys
from trimodal.media.frames import sample_frames
s = sample_frames(sys.argv[1], fps=4.0, size=224, backend=sys.argv[2])
shapes = {f.rgb.shape for f in s}
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
print(sorted(shapes), s.stats["backend"], int(hwm) // 1024)
"""


def test_4k_frames_are_resized_on_decode_with_bounded_memory(mimetype_clips, tmp_path):
    uhd = tmp_path / "uhd.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", mimetype_clips / "mp4.mp4", "-t", "2",
         "-vf", "scale=3840:2160", "-c:v", "libx264", "-preset", "ultrafast", uhd],
        check=True,
    )  # fmt: skip
    for backend in ("decord", "pyav"):
        out = subprocess.run(
            [sys.executable, "-c", FOURK_CHILD, str(uhd), backend],
            check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        assert out[0:3] == ["[(224,", "398,", "3)]"], out
        assert out[3] == backend
        # peak RSS of the child (VmHWM); a 4K RGB frame is 25 MB, the 8 sampled frames
        # kept at full size would add 200 MB
        assert int(out[4]) < 400, f"peak RSS {out[4]} MB"


def test_frames_at_indices_agree_between_backends(real_media):
    from trimodal.media.frames import frames_at

    path = real_media / "usr/share/planetblupi/movie/history2.mkv"
    want = [0, 5, 6, 40, 143]  # 144 frames
    out = {b: list(frames_at(path, want, size=64, backend=b)) for b in ("decord", "pyav")}
    assert [f.index for f in out["decord"]] == [f.index for f in out["pyav"]] == want
    for a, b in zip(out["decord"], out["pyav"], strict=True):
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).mean() < 2
    # .mpg: decord's frame numbering is wrong there, so auto must read it with PyAV
    mpg = real_media / "usr/share/games/fillets-ng/images/menu/intro.mpg"
    s = frames_at(mpg, [10, 500], size=32)
    assert [f.index for f in s] == [10, 500] and s.stats["backend"] == "pyav"


def test_frames_at_past_the_end_is_reported(real_media):
    from trimodal.media.frames import frames_at

    path = real_media / "usr/share/planetblupi/movie/history2.mkv"
    for backend in ("decord", "pyav"):
        s = frames_at(path, [143, 144, 500], size=32, backend=backend)
        assert [f.index for f in s] == [143] and s.stats["stopped_early"], backend


def test_auto_reads_large_files_with_pyav(mimetype_clips, monkeypatch):
    """decord's seeks allocate ~1 GB+ on long files: over DECORD_MAX_BYTES, auto uses PyAV."""
    import trimodal.media.frames as fr

    path = mimetype_clips / "mp4.mp4"  # 384 kB
    s = sample_frames(path, fps=1.0)
    list(s)
    assert s.stats["backend"] == "decord"
    monkeypatch.setattr(fr, "DECORD_MAX_BYTES", 100_000)
    s = sample_frames(path, fps=1.0)
    assert len(list(s)) == 6 and s.stats["backend"] == "pyav"
    s = sample_frames(path, fps=1.0, backend="decord")  # forcing still works
    list(s)
    assert s.stats["backend"] == "decord"


@pytest.fixture(scope="module")
def looped_mp4(real_media, tmp_path_factory):
    """A 64 s mp4 made by looping a real 720p clip (stream copy: same GOPs as the original)."""
    src = real_media / "usr/share/forensics-samples/original-files/movie2/movie-hello.mp4"
    out = tmp_path_factory.mktemp("loop") / "loop.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-stream_loop", "7", "-i", str(src), "-c", "copy", "-an",
         str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.mark.parametrize("fps", [0.1, 0.25])
def test_sparse_sampling_seeks_and_returns_the_decoded_through_frames(looped_mp4, fps):
    seeking = sample_frames(looped_mp4, fps=fps, size=128, backend="pyav")
    through = sample_frames(looped_mp4, fps=fps, size=128, backend="pyav", seek=False)
    a, b = list(seeking), list(through)
    assert seeking.stats["n_seeks"] > 0 and through.stats["n_seeks"] == 0
    assert len(a) == len(b) >= 6
    assert [f.index for f in a] == [f.index for f in b]
    for x, y in zip(a, b, strict=True):
        assert x.time == pytest.approx(y.time, abs=1e-6)
        np.testing.assert_array_equal(x.rgb, y.rgb)


def test_dense_sampling_and_mpeg_ps_never_seek(looped_mp4, real_media):
    dense = sample_frames(looped_mp4, fps=1.0, size=64, backend="pyav")
    assert len(list(dense)) >= 60 and dense.stats["n_seeks"] == 0
    # MPEG-PS seeks by byte position and overshoots: always decoded through
    mpg = sample_frames(
        real_media / "usr/share/games/fillets-ng/images/menu/intro.mpg",
        fps=0.1, size=64, backend="pyav",
    )  # fmt: skip
    assert len(list(mpg)) >= 7 and mpg.stats["n_seeks"] == 0


def test_prefetch_keeps_order_and_reraises_the_producers_error():
    from trimodal.media.frames import prefetch

    assert list(prefetch(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("corrupt packet")

    it = prefetch(failing())
    assert next(it) == 1
    with pytest.raises(ValueError, match="corrupt packet"):
        next(it)


def test_prefetch_closed_early_stops_its_producer():
    import threading

    from trimodal.media.frames import prefetch

    produced = []

    def slow():
        for i in range(1000):
            produced.append(i)
            yield i

    it = prefetch(slow(), depth=1)
    assert next(it) == 0
    it.close()  # joins the producer
    assert not any(t.name == "prefetch" for t in threading.enumerate())
    assert len(produced) < 10
