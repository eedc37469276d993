"""Video extractor benchmark: throughput against the study's method, and decode memory.

Throughput (default mode), on real clips, in one run:
  - decode + YOLO at 1 frame/s (YoloExtractor, the packaged person detector), with its default
    CPU runtime (onnxruntime) and with PyTorch,
  - decode + EfficientNet-Lite0 frame embeddings at 1 frame/s (FrameEmbeddingExtractor),
  - the study's method: YOLO on every frame, limited to the first --every-frame-cap frames of each
    clip (its rate is measured on those frames and reported as such),
reporting frames/s and seconds of video per second of wall time, and the ratio of the latter.

Memory (--memory): peak RSS (ru_maxrss of a child process) of streaming 1 frame/s, resized to a
224 short side, through each decode back-end, on a 1-minute and a 40-minute 1080p video made by
looping the real 1080p phone clip with `ffmpeg -stream_loop N -c copy`.

    PYTHONPATH=src python bench/bench_video.py [--clips ...] [--every-frame-cap 120]
    PYTHONPATH=src python bench/bench_video.py --memory --workdir /tmp/bench_video
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARE = ROOT / "resources/downloads/extracted/usr/share"
DOG_1080P = SHARE / "forensics-samples/original-files/movie1/VID_20191220_170832.mp4"
DEFAULT_CLIPS = [
    SHARE / "gocode/src/github.com/gabriel-vasile/mimetype/testdata/mp4.mp4",
    SHARE / "games/renpy/demo/game/oa4_launch.webm",
    SHARE / "planetblupi/movie/history2.mkv",
    SHARE / "forensics-samples/original-files/movie2/movie-hello.mp4",
    SHARE / "games/fillets-ng/images/menu/intro.mpg",
    DOG_1080P,
]


def peak_rss_mb() -> float:
    """Peak RSS of this process (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _decode_child(path: str, backend: str, fps: float, max_wall: float) -> None:
    """Child process: stream frames, print JSON with count, wall time and peak RSS."""
    from trimodal.media.frames import sample_frames

    t = time.perf_counter()
    seek = backend != "pyav-noseek"  # PyAV decoding every frame (no sparse seeks)
    s = sample_frames(path, fps=fps, size=224, backend=backend.split("-")[0], seek=seek)
    n, last = 0, 0.0
    for f in s:
        n, last = n + 1, f.time
        if time.perf_counter() - t > max_wall:
            break
    out = {
        "n_frames": n,
        "video_s_reached": last,
        "wall_s": time.perf_counter() - t,
        "peak_rss_mb": peak_rss_mb(),
        "backend": s.stats["backend"],
        "n_seeks": s.stats.get("n_seeks", 0),
        "duration_s": s.stats.get("duration"),
    }
    print(json.dumps(out))


def _looped(workdir: Path, minutes: float) -> Path:
    out = workdir / f"dog1080p_{minutes:g}min.mp4"
    if not out.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        loops = int(minutes * 60 / 1.6) + 1  # the clip is 1.6 s long
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(DOG_1080P),
             "-c", "copy", "-t", str(minutes * 60), str(out)],
            check=True,
        )  # fmt: skip
    return out


def memory(workdir: Path, backends: list[str], fps: float, max_wall: float) -> None:
    rows = []
    for minutes in (1, 40):
        path = _looped(workdir, minutes)
        for backend in backends:
            r = subprocess.run(
                [sys.executable, __file__, "--_decode", str(path), "--backend", backend,
                 "--fps", str(fps), "--max-wall", str(max_wall)],
                capture_output=True, text=True, check=True, env=os.environ,
            )  # fmt: skip
            res = json.loads(r.stdout.strip().splitlines()[-1])
            res.update(video=path.name, size_mb=path.stat().st_size / 2**20)
            rows.append(res)
            print(
                f"{path.name:24s} {res['size_mb']:7.0f} MB  {backend:6s} frames={res['n_frames']:5d}"
                f"  reached {res['video_s_reached']:7.1f}s of {res['duration_s']:7.1f}s"
                f"  wall={res['wall_s']:7.1f}s  seeks={res['n_seeks']:4d}  peak RSS={res['peak_rss_mb']:7.1f} MB",
                flush=True,
            )
    print(json.dumps(rows))


def throughput(clips: list[Path], cap: int, imgsz: int) -> None:
    from trimodal.extractors.base import VideoItem
    from trimodal.extractors.frame_embedding import FrameEmbeddingExtractor, batched
    from trimodal.extractors.yolo import YoloExtractor
    from trimodal.media.frames import sample_frames, video_info

    yolo = YoloExtractor(  # runtime "auto": onnxruntime on CPU
        "packaged:yolov8-person", {"fps": 1.0, "batch_size": 16, "imgsz": imgsz}
    )
    yolo_torch = YoloExtractor(
        "packaged:yolov8-person",
        {"fps": 1.0, "batch_size": 16, "imgsz": imgsz, "runtime": "torch"},
    )
    yolo_torch.ensure_loaded()
    eff = FrameEmbeddingExtractor("efficientnet-lite0", {"fps": 1.0, "batch_size": 16})
    yolo.ensure_loaded()
    eff.ensure_loaded()
    # warm-up (first-call set-up of both models is not throughput)
    warm = [f.rgb for f in sample_frames(clips[0], n_frames=2, size=imgsz)]
    yolo.detect(warm)
    yolo_torch.detect(warm)
    eff.embed_images(warm)
    print(f"torch threads: {__import__('torch').get_num_threads()}; cap every-frame: {cap}; "
          f"YOLO imgsz {imgsz}")  # fmt: skip
    keys = ("yolo_1fps", "yolo_1fps_torch", "effnet_1fps", "yolo_every_frame")
    tot = {k: [0.0, 0, 0.0] for k in keys}
    for clip in clips:
        info = video_info(clip)
        item = VideoItem(clip.stem, video=str(clip))
        res = {}
        for key, ex in (("yolo_1fps", yolo), ("yolo_1fps_torch", yolo_torch), ("effnet_1fps", eff)):
            t = time.perf_counter()
            f = ex.extract(item)
            wall = time.perf_counter() - t
            res[key] = (wall, len(f.windows), float(info["duration"]))
        # the study's method: every frame, at most `cap` frames (native frame rate)
        t = time.perf_counter()
        n = 0
        for batch in batched(sample_frames(clip, fps=info["fps"], max_frames=None, size=imgsz), 16):
            batch = batch[: cap - n]
            yolo.detect([fr.rgb for fr in batch])
            n += len(batch)
            if n >= cap:
                break
        wall = time.perf_counter() - t
        res["yolo_every_frame"] = (wall, n, n / float(info["fps"]))
        line = [f"{clip.name:28s} {info['width']}x{info['height']} {info['duration']:6.1f}s"]
        for key, (wall, nf, vid_s) in res.items():
            tot[key][0] += wall
            tot[key][1] += nf
            tot[key][2] += vid_s
            line.append(f"{key}: {nf / wall:6.1f} fr/s {vid_s / wall:6.2f} vs/s")
        print(" | ".join(line).replace(" fr/s", "f/s"), flush=True)
    print("\nTOTAL (video seconds per wall second = vs/s)")
    rate = {}
    for key, (wall, nf, vid_s) in tot.items():
        rate[key] = vid_s / wall
        print(f"  {key:18s} frames={nf:5d} wall={wall:7.1f}s  {nf / wall:6.1f} frames/s"
              f"  {rate[key]:7.2f} s of video per s")  # fmt: skip
    print(
        f"  speed-up yolo 1 fps vs every frame: {rate['yolo_1fps'] / rate['yolo_every_frame']:.1f}x"
    )
    print(f"  yolo onnxruntime vs PyTorch (both 1 fps): "
          f"{rate['yolo_1fps'] / rate['yolo_1fps_torch']:.2f}x")  # fmt: skip
    print(f"  speed-up effnet 1 fps vs yolo every frame: "
          f"{rate['effnet_1fps'] / rate['yolo_every_frame']:.1f}x")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--memory", action="store_true", help="peak RSS on 1-min and 40-min 1080p")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_video"))
    ap.add_argument("--backends", nargs="+", default=["decord", "pyav", "pyav-noseek"])
    ap.add_argument("--clips", nargs="+", type=Path, default=DEFAULT_CLIPS)
    ap.add_argument("--every-frame-cap", type=int, default=120,
                    help="max frames per clip for the every-frame YOLO baseline")  # fmt: skip
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--imgsz", type=int, default=640, help="YOLO input size (both methods)")
    ap.add_argument("--fps", type=float, default=1.0, help="--memory: sampling rate")
    ap.add_argument("--max-wall", type=float, default=1e9,
                    help="--memory: stop a decode after this many seconds (reports how far)")  # fmt: skip
    ap.add_argument("--_decode", help=argparse.SUPPRESS)
    ap.add_argument("--backend", default="auto", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._decode:
        _decode_child(args._decode, args.backend, args.fps, args.max_wall)
        return
    if args.memory:
        memory(args.workdir, args.backends, args.fps, args.max_wall)
    else:
        import torch

        torch.set_num_threads(args.threads)
        throughput([c for c in args.clips if c.exists()], args.every_frame_cap, args.imgsz)


if __name__ == "__main__":
    main()
