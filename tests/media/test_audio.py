"""Streamed audio decoding, chunk-border windowing, and the VGGish / YAMNet log-mel patches."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf

from trimodal.extractors.base import ExtractionError
from trimodal.media import audio_features as af
from trimodal.media.audio import batched_windows, has_audio, iter_windows, stream_audio

SR = 16000


def _chunks(x: np.ndarray, sizes: list[int]):
    i = 0
    k = 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        yield x[i : i + n]
        i += n
        k += 1


@pytest.mark.parametrize(
    ("win", "hop", "sizes"),
    [(15600, 7680, [1000, 37000, 1, 16000]), (15600, 15360, [4410]), (400, 1000, [123, 777])],
)
def test_iter_windows_chunked_equals_whole_array(win, hop, sizes):
    x = np.random.default_rng(0).standard_normal(100_003).astype(np.float32)
    whole = [(s, x[s : s + win]) for s in range(0, len(x) - win + 1, hop)]
    chunked = list(iter_windows(_chunks(x, sizes), win, hop))
    assert [s for s, _ in chunked] == [s for s, _ in whole]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(chunked, whole, strict=True))


def test_iter_windows_short_signal_padding_and_batches():
    x = np.ones(500, np.float32)
    assert list(iter_windows([x], 1000, 500)) == []
    ((start, w),) = list(iter_windows([x[:200], x[200:]], 1000, 500, pad_short=True))
    assert start == 0 and w[:500].sum() == 500 and not w[500:].any()
    batches = list(batched_windows(iter_windows([np.arange(10.0)], 2, 1), 4))
    assert [len(s) for s, _ in batches] == [4, 4, 1] and batches[0][1].shape == (4, 2)


def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def test_stream_audio_resamples_to_mono_16k_in_chunks(tmp_path):
    # 3 s stereo 44.1 kHz: a 440 Hz tone left, silence right -> mono at 16 kHz
    t = np.arange(3 * 44100) / 44100
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1)
    sf.write(tmp_path / "a.wav", stereo, 44100)
    stats = {}
    chunks = list(stream_audio(tmp_path / "a.wav", chunk_s=1.0, stats=stats))
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    assert [len(c) for c in chunks[:2]] == [SR, SR]
    x = np.concatenate(chunks)
    assert abs(len(x) - 3 * SR) <= 64 and stats["n_samples"] == len(x)
    assert stats["decode_errors"] == 0 and not stats["partial"]
    spec = np.abs(np.fft.rfft(x[SR : 2 * SR]))
    assert abs(np.argmax(spec) - 440) <= 1  # 1 Hz bins over one second
    # mono downmix of (0.5 sin, 0) keeps the tone (amplitude 0.25..0.5 depending on the mix law)
    assert 0.2 < np.abs(x[SR : 2 * SR]).max() < 0.55


def test_stream_audio_errors(tmp_path):
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-pix_fmt", "yuv420p", str(tmp_path / "v.mp4")
    )
    with pytest.raises(ExtractionError, match="no audio stream") as e:
        list(stream_audio(tmp_path / "v.mp4"))
    assert e.value.stage == "decode"
    (tmp_path / "junk.mp3").write_bytes(b"\x00not audio" * 100)
    with pytest.raises(ExtractionError) as e:
        list(stream_audio(tmp_path / "junk.mp3"))
    assert e.value.stage == "decode"


def test_stream_audio_keeps_what_a_truncated_file_had(tmp_path):
    _ffmpeg("-f", "lavfi", "-i", "sine=f=300:d=6", "-c:a", "libvorbis", str(tmp_path / "a.ogg"))
    data = (tmp_path / "a.ogg").read_bytes()
    (tmp_path / "cut.ogg").write_bytes(data[: len(data) // 2])
    stats = {}
    n = sum(len(c) for c in stream_audio(tmp_path / "cut.ogg", stats=stats))
    assert 0 < n < 6 * SR and stats["n_samples"] == n


def test_stream_audio_real_containers(mimetype_clips):
    for name in ["mp4.mp4", "webm.webm", "mkv.mkv", "flv.flv"]:
        x = np.concatenate(list(stream_audio(mimetype_clips / name)))
        assert 3 * SR < len(x) < 6 * SR and np.abs(x).max() > 0.01, name


def test_has_audio():
    assert has_audio({"ok": True, "audio": {"codec": "aac"}})
    assert not has_audio({"ok": True, "audio": None}) and not has_audio({})


# --- log-mel --------------------------------------------------------------------------------


def test_hand_computed_mel_band_of_1khz():
    # HTK: mel(f) = 1127 ln(1 + f/700). By hand: mel(125) = 1127 ln(1.178571) = 185.17,
    # mel(7500) = 1127 ln(11.714286) = 2773.33, mel(1000) = 1127 ln(2.428571) = 1000.00.
    # 66 edges 39.818 mel apart; band j peaks at 185.17 + (j+1) * 39.818: band 19 at 981.5,
    # band 20 at 1021.3, so 1000 mel sits in band 19 (weight (1021.3-1000)/39.818 = 0.536 on its
    # falling side) and band 20 (0.464 on its rising side).
    assert af.hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.05)
    w = af.mel_matrix(mode="vggish")
    bin_1k = 32  # 1000 Hz / (16000 / 512) = bin 32 exactly
    assert w[bin_1k, 19] == pytest.approx(0.536, abs=0.002)
    assert w[bin_1k, 20] == pytest.approx(0.464, abs=0.002)
    assert w.shape == (257, 64) and not w[0].any()


def _hann_dtft_mag(omega: np.ndarray, n: int) -> np.ndarray:
    """|DTFT| of the length-n periodic Hann window, from the Dirichlet kernel (closed form)."""

    def dirichlet(w):
        w = np.asarray(w, dtype=np.float64)
        out = np.full_like(w, float(n))
        nz = np.abs(np.sin(w / 2)) > 1e-12
        out[nz] = np.sin(n * w[nz] / 2) / np.sin(w[nz] / 2)
        return out

    # Hann = 0.5 - 0.25 e^{+j2pi k/n} - 0.25 e^{-j2pi k/n}; the three kernels share one phase
    # factor up to e^{+-j pi (n-1)/n} = -e^{-+j pi/n}, so they add with real weights
    step = 2 * np.pi / n
    phase = np.exp(1j * np.pi * (n - 1) / n)
    return np.abs(
        0.5 * dirichlet(omega)
        - 0.25 * phase * dirichlet(omega - step)
        - 0.25 * np.conj(phase) * dirichlet(omega + step)
    )


@pytest.mark.parametrize("amplitude", [0.5, 0.05])
def test_sine_log_mel_matches_analytic_value(amplitude):
    t = np.arange(SR * 2) / SR
    x = (amplitude * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    lm = af.log_mel(x, af.VGGISH_LOG_OFFSET, "vggish")
    assert lm.shape == (1 + (len(x) - 400) // 160, 64)
    assert np.all(lm.argmax(axis=1) == 19)
    # magnitude spectrum of a windowed sine: A/2 |W(2 pi (f_k - f0) / sr)|; at bin 32 exactly
    # A/2 * sum(window) = A/2 * 200 = 100 A
    freqs = np.arange(257) * SR / 512
    mag = amplitude / 2 * _hann_dtft_mag(2 * np.pi * (freqs - 1000.0) / SR, 400)
    assert mag[32] == pytest.approx(100 * amplitude, rel=1e-9)
    expected = np.log(mag @ af.mel_matrix(mode="vggish") + 0.01)
    np.testing.assert_allclose(lm.mean(axis=0)[15:25], expected[15:25], atol=0.02)
    # the peak is 0.536 * 100 A plus the leakage into neighbouring bins (both sides of bin 32)
    assert np.exp(lm[:, 19].mean()) - 0.01 > 0.536 * 100 * amplitude


def test_patch_counts_and_hz_mode_against_librosa():
    import librosa

    # frames = 1 + (n - 400) // 160; patches = 1 + (frames - 96) // hop_frames (96 or 48)
    for n, n_vggish, n_yamnet in [(3 * SR, 3, 5), (15600, 1, 1), (15599, 0, 0), (23279, 1, 1)]:
        x = np.zeros(n, np.float32)
        assert len(af.vggish_patches(x)) == n_vggish
        assert len(af.yamnet_patches(x)) == n_yamnet
    ref = librosa.filters.mel(sr=SR, n_fft=512, n_mels=64, fmin=125, fmax=7500, htk=True, norm=None)
    np.testing.assert_allclose(af.mel_matrix(mode="hz"), ref.T, atol=1e-6)


def test_window_patches_equal_whole_file_patches():
    x = np.random.default_rng(1).standard_normal(SR * 4).astype(np.float32) * 0.1
    for kind, whole, hop in [
        ("yamnet", af.yamnet_patches(x), 7680),
        ("vggish", af.vggish_patches(x), 15360),
    ]:
        wins = np.stack([w for _, w in iter_windows(_chunks(x, [5000]), af.PATCH_SAMPLES, hop)])
        np.testing.assert_allclose(af.window_patches(wins, kind), whole, atol=1e-5)


@pytest.mark.parametrize("kind", ["yamnet", "vggish"])
def test_stream_patches_equal_whole_file_patches(kind):
    x = np.random.default_rng(3).standard_normal(SR * 7 + 321).astype(np.float32) * 0.1
    whole = af.yamnet_patches(x) if kind == "yamnet" else af.vggish_patches(x)
    hop = 7680 if kind == "yamnet" else 15360
    for block_frames in (3000, 97, 150):  # frame blocks smaller and larger than a patch
        out = list(af.stream_patches(_chunks(x, [5000, 13]), kind, hop, 16, block_frames))
        starts = np.concatenate([s for s, _ in out])
        # equal up to float32 rounding: BLAS kernels (OPENBLAS_CORETYPE) sum blocks differently
        np.testing.assert_allclose(np.concatenate([p for _, p in out]), whole, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(starts, np.arange(len(whole)) * hop)
    # short input: one patch of the zero-padded signal; a hop off the 10 ms grid still works
    ((s, p),) = af.stream_patches(_chunks(x[:9000], [1000]), kind, hop)
    padded = np.zeros(af.PATCH_SAMPLES, np.float32)
    padded[:9000] = x[:9000]
    np.testing.assert_allclose(p, af.window_patches(padded[None], kind))
    n = sum(len(p) for _, p in af.stream_patches(_chunks(x, [4000]), kind, 8005))
    assert n == 1 + (len(x) - af.PATCH_SAMPLES) // 8005


def test_iter_windows_tail_and_2d():
    frames = np.arange(20, dtype=np.float32).reshape(10, 2)
    out = list(iter_windows(_chunks(frames, [3]), 4, 4, tail=True))
    assert [s for s, _ in out] == [0, 4, 8] and out[-1][1].shape == (2, 2)
    np.testing.assert_array_equal(np.concatenate([w for _, w in out]), frames)


def test_quantize():
    q = af.quantize(np.array([-100.0, 0.0, 0.048, 100.0]), 0.048, 144)
    assert q.dtype == np.uint8 and q.tolist() == [0, 144, 145, 255]
