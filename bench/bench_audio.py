"""Audio extractor benchmark: speed (real-time factor) and peak memory, streamed vs naive.

Speed (default): YAMNet (packaged int8 ONNX) and Whisper tiny.en int8 on real soundtracks
(openboard explainer, fillets-ng intro, planetblupi cut-scenes: about 5 minutes), each run
twice in the same process: our streamed extractor, and the naive way (``librosa.load`` of the
whole file, then one model call per window: YAMNet on a librosa mel patch per 0.96 s window,
Whisper on each 30 s window). RTF = seconds of audio per second of wall time (higher is better),
also given per CPU-second (process time of all threads), which a busy shared machine distorts
less than wall time.

Memory (``--memory``): peak RSS of a fresh process that decodes a 40-minute and a 1-minute track
(the openboard soundtrack looped, Ogg Vorbis so libsndfile can read it too), once with the
streaming path (stream_audio -> stream_patches: YAMNet log-mel patches) and once with a naive
``librosa.load`` of the whole file.

    PYTHONPATH=src python bench/bench_audio.py [--memory] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARE = ROOT / "resources/downloads/extracted/usr/share"
SOUNDTRACKS = [
    SHARE / "openboard/library/videos/wannaworktogether.mp4",
    SHARE / "games/fillets-ng/images/menu/intro.mpg",
    *sorted((SHARE / "planetblupi/movie").glob("win*.mkv")),
    *sorted((SHARE / "planetblupi/movie").glob("history*.mkv")),
]
SR = 16000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- memory -----------------------------------------------------------------------------------


def _memory_child(mode: str, path: str) -> None:
    """Run in a fresh process: import, note RSS, decode one way, print peak RSS as JSON."""
    import av  # noqa: F401  (import costs counted in the baseline for both modes)
    import librosa  # noqa: F401

    from trimodal.media import audio_features as af
    from trimodal.media.audio import stream_audio

    base = _rss_mb()
    t = time.perf_counter()
    if mode == "stream":
        n = 0
        for _, p in af.stream_patches(stream_audio(path, chunk_s=30.0), "yamnet", 7680):
            n += len(p)
    else:
        import librosa

        y, _ = librosa.load(path, sr=SR, mono=True)
        n = len(af.yamnet_patches(y))
    print(
        json.dumps(
            {"base_mb": base, "peak_mb": _rss_mb(), "s": time.perf_counter() - t, "patches": n}
        )
    )


def bench_memory(tmp: Path) -> None:
    src = SOUNDTRACKS[0]
    tracks = {}
    for minutes in (1, 40):
        out = tmp / f"loop_{minutes}min.ogg"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(src), "-vn",
             "-t", str(minutes * 60), "-ac", "2", "-c:a", "libvorbis", "-q:a", "3", str(out)],
            check=True,
        )  # fmt: skip
        tracks[minutes] = out
    print(f"\npeak RSS, decoding + YAMNet log-mel patches ({src.name} looped, Ogg Vorbis)")
    print(
        f"{'track':>8} {'mode':>13} {'peak MB':>8} {'over base':>9} {'seconds':>8} {'patches':>8}"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for minutes, path in tracks.items():
        for mode in ("stream", "librosa.load"):
            r = subprocess.run(
                [sys.executable, __file__, "--memory-child", mode, str(path)],
                capture_output=True, text=True, env=env, check=True,
            )  # fmt: skip
            m = json.loads(r.stdout.strip().splitlines()[-1])
            print(
                f"{minutes:>6}min {mode:>13} {m['peak_mb']:8.0f} {m['peak_mb'] - m['base_mb']:9.0f}"
                f" {m['s']:8.1f} {m['patches']:8d}"
            )


# --- speed ------------------------------------------------------------------------------------


def naive_yamnet(ext, path: str) -> np.ndarray:
    import librosa

    y, _ = librosa.load(path, sr=SR, mono=True)
    out = []
    # librosa frames n_fft (512) samples, so a 96-frame patch needs 15600 + 112 samples
    for s in range(0, len(y) - 15712 + 1, 7680):  # one librosa mel + one model call per window
        mel = librosa.feature.melspectrogram(
            y=y[s : s + 15712], sr=SR, n_fft=512, win_length=400, hop_length=160, center=False,
            power=1.0, n_mels=64, fmin=125, fmax=7500, htk=True, norm=None,
        )  # fmt: skip
        out.append(ext.scores(np.log(mel.T + 1e-6)[None].astype(np.float32)))
    return np.concatenate(out)


def naive_whisper(ext, path: str) -> str:
    import librosa

    y, _ = librosa.load(path, sr=SR, mono=True)
    texts = []
    for s in range(0, len(y), 30 * SR):
        segs, _ = ext.model.transcribe(y[s : s + 30 * SR], beam_size=1, vad_filter=True)
        texts += [x.text for x in segs]
    return " ".join(texts)


def bench_speed(threads: int) -> None:
    import warnings

    from trimodal.extractors.base import VideoItem
    from trimodal.extractors.whisper import WhisperExtractor
    from trimodal.extractors.yamnet import YamnetExtractor

    warnings.filterwarnings("ignore")  # librosa's audioread fallback for mp4/mpg
    files = [str(p) for p in SOUNDTRACKS if p.exists()]
    yam = YamnetExtractor("packaged:yamnet-int8-onnx", {"threads": threads})
    wh = WhisperExtractor("tiny.en", {"compute_type": "int8", "beam_size": 1, "threads": threads})
    yam.ensure_loaded()
    wh.ensure_loaded()
    audio_s = 0.0
    t = {k: 0.0 for k in ("yamnet", "yamnet_naive", "whisper", "whisper_naive")}
    cpu = dict.fromkeys(t, 0.0)  # process CPU seconds (all threads): honest on a busy machine
    for f in files:
        c0, t0 = time.process_time(), time.perf_counter()
        feats = yam.extract(VideoItem("b", video=f))
        c1, t1 = time.process_time(), time.perf_counter()
        naive = naive_yamnet(yam, f)
        c2, t2 = time.process_time(), time.perf_counter()
        wh.extract(VideoItem("b", video=f))
        c3, t3 = time.process_time(), time.perf_counter()
        naive_whisper(wh, f)
        c4, t4 = time.process_time(), time.perf_counter()
        dur = feats.attrs["duration_decoded"]
        audio_s += dur
        for k, dt, dc in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3),
                             (c1 - c0, c2 - c1, c3 - c2, c4 - c3), strict=True):  # fmt: skip
            t[k] += dt
            cpu[k] += dc
        top_agree = np.argmax(feats.windows.mean(0)) == np.argmax(naive.mean(0))
        print(f"{Path(f).name:28s} {dur:6.1f}s  yamnet {dur / (t1 - t0):6.0f}x naive "
              f"{dur / (t2 - t1):5.0f}x (top-1 agrees: {top_agree})  whisper {dur / (t3 - t2):5.1f}x"
              f" naive {dur / (t4 - t3):5.1f}x")  # fmt: skip
    print(f"\n{len(files)} soundtracks, {audio_s / 60:.1f} min of audio, threads={threads}, "
          f"cpu count {os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}")  # fmt: skip
    for name in ("yamnet", "whisper"):
        ours, naive = audio_s / t[name], audio_s / t[name + "_naive"]
        print(f"{name:8s} streamed {ours:7.1f}x real time   naive {naive:7.1f}x   "
              f"ratio {ours / naive:5.2f}   (wall clock)")  # fmt: skip
        ours, naive = audio_s / cpu[name], audio_s / cpu[name + "_naive"]
        print(f"{'':8s} streamed {ours:7.1f}x per CPU-second  naive {naive:7.1f}x   "
              f"ratio {ours / naive:5.2f}   (CPU time, all threads)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memory", action="store_true", help="peak-RSS comparison instead of speed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.memory_child:
        _memory_child(*a.memory_child)
    elif a.memory:
        with tempfile.TemporaryDirectory() as tmp:
            bench_memory(Path(tmp))
    else:
        bench_speed(a.threads)


if __name__ == "__main__":
    main()
