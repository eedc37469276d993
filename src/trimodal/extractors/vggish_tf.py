"""VGGish embeddings with TensorFlow, run as its own process (never imported next to torch).

Importing TensorFlow after torch 2.14 crashed Python on these machines (see MODELS.md), so the
torch-side :class:`trimodal.extractors.vggish.VggishExtractor` never imports this module: it
writes its input to a file and runs

    python path/to/vggish_tf.py IN OUT --model MODEL [--kind patches|waveform]

(``python -m trimodal.extractors.vggish_tf ...`` too, where trimodal's own dependencies are
installed; run as a file it needs only numpy and TensorFlow),

where MODEL is a TF Hub handle (``https://tfhub.dev/google/vggish/1``, fetched by
tensorflow_hub when there is internet) or a local SavedModel folder. IN is either
``.npy`` log-mel patches (n, 96, 64) for a SavedModel that takes patches, or a raw float32
16 kHz waveform (``.f32``) for the Hub model, which does its own framing; the waveform is fed in
slices of 625 patches (10 min) aligned on the 0.96 s patch grid, so memory stays bounded and the
patches are the ones a single call would make. OUT is ``.npy`` embeddings (n, 128) float32.
This module imports only numpy and TensorFlow (tensorflow_hub for a handle).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

PATCH_HOP = 15360  # 0.96 s at 16 kHz
PATCH_SPAN = 15600  # 96 frames of 25 ms every 10 ms
SLICE_PATCHES = 625  # 10 minutes


def _is_handle(model: str) -> bool:
    return model.startswith(("http://", "https://")) or not os.path.exists(model)


def load_model(model: str):
    """A callable: SavedModel folder via tf.saved_model.load, a Hub handle via hub.load."""
    import tensorflow as tf

    if _is_handle(model):
        import tensorflow_hub as hub

        obj = hub.load(model)
    else:
        obj = tf.saved_model.load(model)
    if callable(obj):
        return lambda x: obj(tf.constant(x))
    fn = obj.signatures["serving_default"]
    return lambda x: next(iter(fn(tf.constant(x)).values()))


def embed_patches(call, patches: np.ndarray, batch: int = 256) -> np.ndarray:
    out = [
        np.asarray(call(np.ascontiguousarray(patches[i : i + batch], dtype=np.float32)))
        for i in range(0, len(patches), batch)
    ]
    return np.concatenate(out).reshape(len(patches), -1) if out else np.zeros((0, 128), "f4")


def embed_waveform(call, wave: np.ndarray) -> np.ndarray:
    n_patches = 0 if len(wave) < PATCH_SPAN else 1 + (len(wave) - PATCH_SPAN) // PATCH_HOP
    out = []
    for p0 in range(0, n_patches, SLICE_PATCHES):
        p1 = min(n_patches, p0 + SLICE_PATCHES)
        piece = wave[p0 * PATCH_HOP : (p1 - 1) * PATCH_HOP + PATCH_SPAN]
        out.append(np.asarray(call(np.asarray(piece, dtype=np.float32))).reshape(-1, 128))
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--model", default="https://tfhub.dev/google/vggish/1")
    ap.add_argument("--kind", choices=["patches", "waveform"], default="patches")
    ap.add_argument("--batch", type=int, default=256)
    a = ap.parse_args(argv)
    call = load_model(a.model)
    if a.kind == "patches":
        emb = embed_patches(call, np.load(a.inp, mmap_mode="r"), a.batch)
    else:
        emb = embed_waveform(call, np.memmap(a.inp, dtype=np.float32, mode="r"))
    np.save(a.out, np.asarray(emb, dtype=np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
