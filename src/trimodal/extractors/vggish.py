"""VGGish 128-d embeddings per 0.96 s window, with a PyTorch or a TensorFlow back-end.

``params.backend``:

* ``"torch"`` (default): :class:`VGGish`, the standard architecture (conv64-pool-conv128-pool-
  conv256x2-pool-conv512x2-pool, fc 4096-4096-128, ReLU) with converted weights from a
  ``state_dict`` file given as the model spec (the layout of the common torchvggish conversion:
  ``features.*`` / ``embeddings.*``). No VGGish weights exist offline here, so this path is
  tested with random weights only. Optional PCA post-processing (``params.pca``: a .pt / .npz
  with ``pca_eigen_vectors`` (128, 128) and ``pca_means`` (128,)) as in the official
  ``vggish_postprocess.py``: project, clip to [-2, 2], quantise to 0..255.
* ``"tf"``: TensorFlow Hub ``https://tfhub.dev/google/vggish/1`` (with internet) or a local
  SavedModel folder, run by :mod:`trimodal.extractors.vggish_tf` in a subprocess
  (``$TRIMODAL_TF_PYTHON`` or ``params.tf_python``, default this interpreter) because TensorFlow
  must not share a process with torch. A SavedModel gets the preprocessed patches as .npy; the
  Hub model gets the raw 16 kHz waveform (it does its own, identical, framing).

Input patches: the official VGGish log-mel patches, one per 0.96 s window every ``params.hop``
seconds (default 0.96, non-overlapping, as VGGish), streamed by
:func:`trimodal.media.audio_features.stream_patches`.

Pooling: mean / max / ``attn`` / mean_max from :func:`trimodal.extractors.pooling.pool_all`. ``attn`` is the
energy-based attention (softmax of the standardised L2 norm of each window): it needs no labels,
so it is computed once here without touching the cross-validation folds, and VGGish embeddings
of loud, eventful windows have larger norms than those of near-silence, so it favours the
windows that carry sound; a learned attention belongs to the fusion model, trained per fold.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from trimodal.extractors.base import (
    AUDIO_SOURCE,
    POOLED,
    ExtractionError,
    Extractor,
    Features,
    Param,
    VideoItem,
)
from trimodal.extractors.pooling import pool_all
from trimodal.extractors.tf_process import run_tf_script, tf_versions, write_waveform
from trimodal.media.audio import source_path, stream_audio
from trimodal.media.audio_features import SAMPLE_RATE, stream_patches
from trimodal.plumbing.models import resolve_model

TF_HUB_VGGISH = "https://tfhub.dev/google/vggish/1"


def build_vggish(final_relu: bool = False):
    """The VGGish network as a torch module: (n, 1, 96, 64) log-mel -> (n, 128).

    The feature map is flattened in TensorFlow's (H, W, C) order so converted TF weights apply
    unchanged. ``final_relu`` adds a ReLU after fc2 (the original release and torchvggish have
    it; the current official model does not).
    """
    import torch
    from torch import nn

    def conv(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU(inplace=True)]

    class VGGish(nn.Module):
        def __init__(self):
            super().__init__()
            pool = [nn.MaxPool2d(2, 2)]
            self.features = nn.Sequential(
                *conv(1, 64), *pool, *conv(64, 128), *pool,
                *conv(128, 256), *conv(256, 256), *pool,
                *conv(256, 512), *conv(512, 512), *pool,
            )  # fmt: skip
            fc = [nn.Linear(512 * 6 * 4, 4096), nn.ReLU(True), nn.Linear(4096, 4096)]
            fc += [nn.ReLU(True), nn.Linear(4096, 128)]
            self.embeddings = nn.Sequential(*fc, *([nn.ReLU(True)] if final_relu else []))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.features(x)  # (n, 512, 6, 4)
            x = x.permute(0, 2, 3, 1).reshape(len(x), -1)  # TF flatten order
            return self.embeddings(x)

    return VGGish()


def _load_pca(path: str) -> tuple[np.ndarray, np.ndarray]:
    if path.endswith(".npz"):
        d = np.load(path)
    else:
        import torch

        d = {k: v.numpy() for k, v in torch.load(path, map_location="cpu").items()}
    return np.asarray(d["pca_eigen_vectors"], np.float32), np.asarray(d["pca_means"], np.float32)


def postprocess(emb: np.ndarray, eigvecs: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Official VGGish post-processing: PCA, clip to [-2, 2], quantise to 0..255 (as float)."""
    pca = (emb - means.reshape(1, -1)) @ eigvecs.T
    return np.round((np.clip(pca, -2.0, 2.0) + 2.0) * (255.0 / 4.0)).astype(np.float32)


class VggishExtractor(Extractor):
    name = "vggish"
    modality = "audio"
    PARAMS = {
        "backend": Param(str, "torch", "network runtime", choices=("torch", "tf")),
        "source": AUDIO_SOURCE,
        "hop": Param(float, 0.96, "seconds between window starts", gt=0),
        "batch_size": Param(int, 32, "patches per forward pass", ge=1),
        "final_relu": Param(bool, False, "ReLU after fc2 (the original release)"),
        "pca": Param(str, None, "PCA parameters file (.pt / .npz) for post-processing"),
        "tf_python": Param(str, None, "Python with TensorFlow (default $TRIMODAL_TF_PYTHON)"),
        "chunk_s": Param(float, 30.0, "seconds of audio decoded at a time", gt=0),
    }
    POOLINGS = POOLED
    SCRIPTS = ("trimodal.extractors.vggish_tf",)  # the TensorFlow back-end

    @classmethod
    def hub_repo(cls, model: str) -> str | None:
        return None  # a state_dict file, a TF Hub handle or a SavedModel folder

    @classmethod
    def backend_versions(cls, model: str | None, params: dict) -> dict[str, str]:
        return tf_versions(params or {}) if (params or {}).get("backend") == "tf" else {}

    def __init__(self, model=None, params=None, device="cpu"):
        super().__init__(model, params, device)
        self.params = self.with_defaults(self.params)
        if self.params["backend"] not in ("torch", "tf"):
            raise ValueError(
                f"vggish backend must be 'torch' or 'tf', not {self.params['backend']!r}"
            )

    def load(self) -> None:
        pca = self.params.get("pca")
        self.pca = _load_pca(str(resolve_model(pca))) if pca else None
        if self.params["backend"] == "tf":
            self.tf_model = resolve_model(self.model_spec or TF_HUB_VGGISH)
            return
        import torch

        path = resolve_model(self.model_spec)
        if not path or not Path(path).is_file():
            raise FileNotFoundError(
                f"VGGish torch back-end needs a converted state_dict file as its model, got "
                f"{self.model_spec!r} (no VGGish weights are packaged; or use backend: tf)"
            )
        self.torch = torch
        self.net = build_vggish(bool(self.params["final_relu"]))
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state)
        self.net.eval().to(self.device)

    def _patches(self, path: str, stats: dict, span=None):
        hop = int(round(float(self.params["hop"]) * SAMPLE_RATE))
        chunk_s = float(self.params["chunk_s"])
        chunks = stream_audio(path, chunk_s=chunk_s, stats=stats, span=span)
        yield from stream_patches(chunks, "vggish", hop, batch=int(self.params["batch_size"]))

    def _embed_torch(self, path: str, stats: dict, span=None):
        torch = self.torch
        starts, out = [], []
        with torch.inference_mode():
            for s, p in self._patches(path, stats, span):
                x = torch.from_numpy(p[:, None]).to(self.device)
                out.append(self.net(x).float().cpu().numpy())
                starts.append(s)
        return starts, out

    def _run_tf(self, inp: str, out: str, kind: str) -> np.ndarray:
        args = [inp, out, "--model", str(self.tf_model), "--kind", kind]
        run_tf_script(self.SCRIPTS[0], args, self.params, "VGGish")
        return np.load(out)

    def _embed_tf(self, path: str, stats: dict, span=None):
        local = Path(str(self.tf_model)).exists()
        with tempfile.TemporaryDirectory(prefix="vggish_tf_") as tmp:
            out = os.path.join(tmp, "out.npy")
            if local:  # a SavedModel taking patches: our preprocessing, any hop
                starts, patches = [], []
                for s, p in self._patches(path, stats, span):
                    starts.append(s)
                    patches.append(p)
                if not patches:
                    return [], []
                np.save(os.path.join(tmp, "in.npy"), np.concatenate(patches))
                return starts, [self._run_tf(os.path.join(tmp, "in.npy"), out, "patches")]
            # the Hub model frames the waveform itself (0.96 s, no overlap): stream it to disk
            wave = os.path.join(tmp, "in.f32")
            write_waveform(wave, path, float(self.params["chunk_s"]), stats, span)
            emb = self._run_tf(wave, out, "waveform")
            return [np.arange(len(emb)) * 15360], [emb]

    def extract(self, item: VideoItem) -> Features:
        path, _ = source_path(item, self.params["source"])
        span = item.audio_span(self.params["source"])  # a segment row: times from its start
        stats: dict = {}
        if self.params["backend"] == "tf":
            starts, out = self._embed_tf(path, stats, span)
        else:
            starts, out = self._embed_torch(path, stats, span)
        if not out or not sum(len(o) for o in out):
            raise ExtractionError("audio too short for one VGGish window", stage="extract")
        emb = np.concatenate(out).astype(np.float32)
        if self.pca is not None:
            emb = postprocess(emb, *self.pca)
        t0 = np.concatenate(starts) / SAMPLE_RATE
        return Features(
            windows=emb,
            times=np.stack([t0, t0 + 0.96], axis=1),
            pooled=pool_all(emb),
            attrs={
                "n_windows": len(emb),
                "backend": self.params["backend"],
                "hop_s": float(self.params["hop"]),
                "duration_decoded": float(stats.get("duration_decoded", 0.0)),
                "duration_declared": float(stats.get("duration_declared", 0.0)),
                "decode_errors": int(stats.get("decode_errors", 0)),
                "partial_decode": bool(stats.get("partial", False)),
            },
        )
