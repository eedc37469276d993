"""One model load per batch against one per video: the same extractor, videos and machine.

Runs the repository's Snakefile twice on the same demo videos, with one extract job per video
(`batch: 1`) and with one job for a batch of videos (`batch: N`), and times building the
extractor's store (probes are made beforehand and not timed). Both use `--cores 1`, so the
difference is the per-job cost: a Python process, imports, and loading the model. Also checks
that both runs give the same store.

    python bench/bench_batch.py [--videos 24] [--batch 24] [--extractor effnet]
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workflow_project import (  # noqa: E402
    SMALL_EXTRACTORS,
    assert_same_store,
    make_project,
    small_sheet,
    snakemake,
)


def timed_store(wd: Path, name: str, cores: int) -> float:
    snakemake(wd, "--cores", str(cores), "--until", "probe")
    t = time.perf_counter()
    snakemake(wd, "--cores", str(cores), f"results/features/{name}.h5", timeout=3600)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=24)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--extractor", default="effnet", choices=sorted(SMALL_EXTRACTORS))
    ap.add_argument("--cores", type=int, default=1)
    args = ap.parse_args()
    sheet = small_sheet(per_label=(args.videos + 3) // 4, extra_ids=()).head(args.videos)
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (1, args.batch):
            ex = {args.extractor: copy.deepcopy(SMALL_EXTRACTORS[args.extractor])}
            ex[args.extractor]["batch"] = size
            wd = make_project(
                Path(tmp) / f"b{size}", sheet, ex, feature_sets=(f"{args.extractor}:mean",)
            )
            walls[size] = timed_store(wd, args.extractor, args.cores)
            print(f"batch {size:3d}: {len(sheet)} videos, {walls[size]:6.1f} s "
                  f"({walls[size] / len(sheet):.2f} s per video)", flush=True)  # fmt: skip
        assert_same_store(
            Path(tmp) / "b1" / "results/features" / f"{args.extractor}.h5",
            Path(tmp) / f"b{args.batch}" / "results/features" / f"{args.extractor}.h5",
        )
    print(f"{args.extractor}: one job per video / one job per batch of {args.batch}: "
          f"{walls[1] / walls[args.batch]:.2f}x; stores identical")  # fmt: skip


if __name__ == "__main__":
    main()
