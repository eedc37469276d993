"""GPU figures, side by side with the CPU in the same run: frame embeddings and the fusion network.

    python bench/bench_gpu.py --prepare resources/gpu_bench   # here: decode real frames to .npz
    python bench/bench_gpu.py --frames resources/gpu_bench/frames.npz   # on the GPU machine

Decoding stays on the CPU in the pipeline, so the embedding stage is timed on pre-decoded real
frames (the demo corpus's real clips at 1 frame/s): EfficientNet-Lite0 (packaged ImageNet
weights) in batches on `cuda` and on `cpu`, then the intermediate-fusion network's training on
both devices. Prints frames/s and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def prepare(out: Path, n: int = 256) -> None:
    import pandas as pd

    from trimodal.media.frames import sample_frames

    sheet = pd.read_csv(ROOT / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False)
    frames = []
    for path in sheet[sheet["video_id"].str.startswith("real_")]["video"]:
        try:
            frames += [f.rgb for f in sample_frames(ROOT / path, fps=1.0, size=224)]
        except Exception as e:  # noqa: BLE001 - a clip that does not decode is skipped
            print("skip", path, e)
        if len(frames) >= n:
            break
    from trimodal.extractors.frame_embedding import center_crop

    x = np.stack([center_crop(f, 224) for f in frames[:n]])
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "frames.npz", frames=x)
    print(f"{len(x)} frames -> {out / 'frames.npz'}")


def time_effnet(frames: np.ndarray, device: str, batch: int, repeats: int = 3) -> float:
    import torch

    from trimodal.extractors.frame_embedding import FrameEmbeddingExtractor

    ex = FrameEmbeddingExtractor("efficientnet-lite0", {"image_size": 224}, device=device)
    ex.ensure_loaded()
    ex.embed_images(list(frames[:batch]))  # warm-up (cudnn autotune, allocations)
    best = np.inf
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(0, len(frames), batch):
            ex.embed_images(list(frames[i : i + batch]))
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return len(frames) / best


def time_fusion(device: str) -> float:
    from sklearn.datasets import make_classification

    from trimodal.fusion.net import IntermediateFusionClassifier

    X, y = make_classification(2000, 3 * 256, n_informative=60, n_classes=6, random_state=0)
    slices = {"a": (0, 256), "v": (256, 512), "t": (512, 768)}
    clf = IntermediateFusionClassifier(
        block_slices=slices, max_epochs=30, patience=100, batch_size=64, device=device
    )
    t = time.perf_counter()
    clf.fit(X, y)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepare", type=Path)
    ap.add_argument("--frames", type=Path)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    if args.prepare:
        prepare(args.prepare)
        return
    import torch

    frames = np.load(args.frames)["frames"]
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"device: {name}; torch {torch.__version__}; CPU threads {torch.get_num_threads()}")
    cpu = time_effnet(frames[:64], "cpu", args.batch, repeats=1)
    print(f"EfficientNet-Lite0, cpu : {cpu:8.1f} frames/s")
    if torch.cuda.is_available():
        gpu = time_effnet(frames, "cuda", args.batch)
        print(f"EfficientNet-Lite0, cuda: {gpu:8.1f} frames/s  ({gpu / cpu:.1f}x the cpu)")
    fc = time_fusion("cpu")
    print(f"fusion network fit, cpu : {fc:6.1f} s")
    if torch.cuda.is_available():
        fg = time_fusion("cuda")
        print(f"fusion network fit, cuda: {fg:6.1f} s  ({fc / fg:.1f}x faster)")


if __name__ == "__main__":
    main()
