"""YAMNet scores and embeddings with TensorFlow, in its own process (never next to torch).

Importing TensorFlow after torch crashed Python on these machines (see MODELS.md), so the
extractor :class:`trimodal.extractors.yamnet.YamnetExtractor` never imports this module: for a TF
model it writes the decoded 16 kHz waveform to a file and runs

    python path/to/yamnet_tf.py IN.f32 OUT.npz --model MODEL [--slice-windows K] [--threads T]

(run as a file it needs only numpy and TensorFlow; tensorflow_hub for a handle), where MODEL is a
TF Hub handle (``https://tfhub.dev/google/yamnet/1``, fetched by tensorflow_hub when there is
internet) or a local SavedModel folder with the Hub model's signature: called on a 1-D float32
16 kHz waveform in [-1, 1], it returns ``(scores (n, 521), embeddings (n, 1024),
log_mel_spectrogram)``. IN is raw float32 samples; OUT holds ``scores`` and ``embeddings``
(float32) and, when the model has a ``class_map_path()`` (the Hub model does), its
``class_names`` in class order.

Framing. YAMNet frames the waveform itself: STFT frames of 400 samples every 160 (25 ms / 10 ms,
no end padding), patches of 96 frames every 48 frames, so window ``j`` is the samples
``[j * 7680, j * 7680 + 15600)`` (0.96 s windows every 0.48 s; 15600 = 95 * 160 + 400). Before
framing, its ``features.pad_waveform`` appends zeros to a waveform of N samples so that it holds
``n = 1 + ceil(max(0, N - 15600) / 7680)`` windows: a short waveform gives one window, and the
last window may run past the end into zeros (silence). In a SavedModel graph TensorFlow rewrites
that float32 division by 7680 into a product with float32(1 / 7680), which is a little larger:
when ``N - 15600`` is an exact multiple ``m * 7680`` the ``ceil`` can give ``m + 1`` (m = 3, 5,
6, 7, 10, ...: measured with TF 2.21 on a graph built like YAMNet's ``features.py``, see the
tests) and one call returns one more window, half real samples, half zeros.
This module returns the ``n`` windows of exact arithmetic: window ``j`` is always the single
call's window ``j``; for those lengths the single call's extra last window is left out.

Slices. A long file is fed in slices of at most ``K`` windows (``--slice-windows``, default 625,
5 min) so memory stays bounded. Slice ``[w0, w1)`` is the samples ``[w0 * 7680, min(N, (w1 - 1)
* 7680 + 15600 + 3840))``: its windows' samples plus half a hop (neighbouring slices overlap by
15600 - 7680 + 3840 = 11760 samples). As ``w0 * 7680`` is a multiple of the 160-sample STFT hop
and of the 48-frame patch hop, the slice's STFT frames and patches are the whole waveform's from
window ``w0`` on, made of the same samples (a log-mel frame depends only on its own 400), so the
model's windows ``0 .. w1 - w0 - 1`` for the slice are the whole waveform's windows ``w0 .. w1 -
1``, computed from real samples only, except in the last slice, where the padding is the same
zeros up to the same end as for the whole waveform:

* the extra half hop puts a non-final slice's ``N_s - 15600`` midway between two multiples of
  7680, so ``pad_waveform``'s ``ceil`` is the same whatever the float rounding, and the model
  returns ``w1 - w0 + 1`` windows, the last one partly padded: it is dropped (the next slice
  computes it from real samples);
* a slice cut at N (the last one, or one that ends within half a hop of N) gets ``n - w0`` or
  ``w1 - w0`` windows as needed, plus possibly the rounding extra, which is dropped.

So the windows of the slices are the windows of one single call on the whole waveform. Slices
also keep the float32 arithmetic exact: a single call on more than 2^24 samples (17.5 min) rounds
the sample count itself. A slice that returns fewer than ``w1 - w0`` windows, or more than one
extra, means the model does not frame like YAMNet: an error, not something to paper over.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np

SAMPLE_RATE = 16000
HOP = 7680  # 0.48 s: 48 STFT frames of 160 samples
SPAN = 15600  # 0.96 s patch: 96 STFT frames of 400 samples every 160
MARGIN = HOP // 2  # samples fed past a slice's last window: its padding never hits a hop edge
N_CLASSES = 521
EMBEDDING_DIM = 1024
SLICE_WINDOWS = 625  # 5 minutes of windows per model call


def n_windows(n_samples: int) -> int:
    """Windows YAMNet makes of ``n_samples`` (after its zero padding): at least one."""
    after_first = max(0, int(n_samples) - SPAN)
    return 1 + -(-after_first // HOP)


def slices(n_samples: int, slice_windows: int = SLICE_WINDOWS) -> list[tuple[int, int, int, int]]:
    """``(w0, w1, s0, s1)`` per model call: windows ``[w0, w1)`` come from samples ``[s0, s1)``."""
    if slice_windows < 1:
        raise ValueError(f"slice_windows must be >= 1, got {slice_windows}")
    n = n_windows(n_samples) if n_samples > 0 else 0
    out = []
    for w0 in range(0, n, slice_windows):
        w1 = min(n, w0 + slice_windows)
        out.append((w0, w1, w0 * HOP, min(int(n_samples), (w1 - 1) * HOP + SPAN + MARGIN)))
    return out


def _is_handle(model: str) -> bool:
    return model.startswith(("http://", "https://")) or not os.path.exists(model)


def _outputs(result) -> tuple:
    """(scores, embeddings) from a call's tuple, or from a signature's dict of outputs."""
    if isinstance(result, dict):
        if "scores" in result and "embeddings" in result:
            return result["scores"], result["embeddings"]
        values = [result[k] for k in sorted(result)]  # output_0, output_1, output_2
        return values[0], values[1]
    return result[0], result[1]


def _class_names(obj) -> list[str] | None:
    fn = getattr(obj, "class_map_path", None)
    if fn is None:
        return None
    import tensorflow as tf

    path = fn()
    path = path.numpy() if hasattr(path, "numpy") else path
    path = path.decode() if isinstance(path, bytes) else str(path)
    with tf.io.gfile.GFile(path) as f:
        return [row["display_name"] for row in csv.DictReader(f)]


def load_model(model: str):
    """(call, class names or None): call(waveform (N,) float32) -> (scores, embeddings)."""
    import tensorflow as tf

    if _is_handle(model):
        import tensorflow_hub as hub

        obj = hub.load(model)
    else:
        obj = tf.saved_model.load(model)
    if callable(obj):
        fn = obj
    else:
        fn = obj.signatures["serving_default"]

    def call(wave: np.ndarray):
        scores, emb = _outputs(fn(tf.constant(wave, dtype=tf.float32)))
        return np.asarray(scores), np.asarray(emb)

    return call, _class_names(obj)


def run_sliced(
    call, wave: np.ndarray, slice_windows: int = SLICE_WINDOWS
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (n, 521) and embeddings (n, 1024) of the whole waveform, fed slice by slice:
    ``call(samples)`` returns a slice's (scores, embeddings); see the module's docstring."""
    scores, embs = [], []
    for w0, w1, s0, s1 in slices(len(wave), slice_windows):
        s, e = call(np.ascontiguousarray(wave[s0:s1], dtype=np.float32))
        s = np.asarray(s, dtype=np.float32).reshape(-1, N_CLASSES)
        e = np.asarray(e, dtype=np.float32)
        e = e.reshape(-1, e.shape[-1]) if e.ndim > 1 else e.reshape(len(s), -1)
        if not w1 - w0 <= len(s) <= w1 - w0 + 1:
            raise RuntimeError(
                f"the model made {len(s)} windows of samples [{s0}, {s1}), YAMNet framing needs "
                f"{w1 - w0} (+ 1 padded): it does not frame 0.96 s windows every 0.48 s like YAMNet"
            )
        scores.append(s[: w1 - w0])
        embs.append(e[: w1 - w0])
    if not scores:
        return np.zeros((0, N_CLASSES), np.float32), np.zeros((0, EMBEDDING_DIM), np.float32)
    return np.concatenate(scores), np.concatenate(embs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inp", help="raw float32 16 kHz mono samples")
    ap.add_argument("out", help=".npz with scores, embeddings (and class_names)")
    ap.add_argument("--model", default="https://tfhub.dev/google/yamnet/1")
    ap.add_argument("--slice-windows", type=int, default=SLICE_WINDOWS)
    ap.add_argument("--threads", type=int, default=0, help="TF intra-op threads (0: TF's choice)")
    a = ap.parse_args(argv)
    if a.threads > 0:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    call, names = load_model(a.model)
    wave = np.memmap(a.inp, dtype=np.float32, mode="r") if os.path.getsize(a.inp) else np.zeros(0)
    scores, emb = run_sliced(call, wave, a.slice_windows)
    out = {"scores": scores.astype(np.float32), "embeddings": emb.astype(np.float32)}
    if names is not None:
        out["class_names"] = np.asarray(names, dtype=str)
    with open(a.out, "wb") as f:  # a file object: np.savez would append .npz to a bare name
        np.savez(f, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
