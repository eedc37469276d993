"""The cost of per-video isolation (issue 32): one extract batch computed in the job's own
process (no `video_timeout_s`) against the same batch in a spawned worker (a timeout set, long
enough never to fire), on the same demo videos, side by side, alternating A B A B.

CPU is the whole `snakemake` call's (``getrusage(RUSAGE_CHILDREN)``: Snakemake, the job and its
reaped worker and helpers); wall is the call's. Probes are made beforehand and not timed. Each
run is a fresh project (no result cache to reuse). Also checks that both give the same store.

    python bench/bench_isolation.py [--videos 8] [--extractors effnet yamnet] [--repeats 2]
"""

from __future__ import annotations

import argparse
import copy
import resource
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
    store_items,
)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_store(wd: Path, name: str) -> tuple[float, float]:
    """(wall s, CPU s) of building `name`'s store, probes made first."""
    snakemake(wd, "--until", "probe")
    c, t = children_cpu(), time.perf_counter()
    snakemake(wd, f"results/features/{name}.h5", timeout=3600)
    return time.perf_counter() - t, children_cpu() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--extractors", nargs="+", default=["effnet", "yamnet"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sheet = small_sheet(per_label=(args.videos + 3) // 4, extra_ids=()).head(args.videos)
    modes = {"in the job": None, "isolated": 600}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.extractors:
            runs: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
            for rep in range(args.repeats):
                for mode, timeout in modes.items():
                    spec = copy.deepcopy(SMALL_EXTRACTORS[name])
                    spec["batch"] = args.videos
                    spec["resources"] = {"threads": args.threads}
                    if timeout:
                        spec["resources"]["video_timeout_s"] = timeout
                    wd = make_project(
                        Path(tmp) / f"{name}-{'iso' if timeout else 'job'}-{rep}",
                        sheet,
                        {name: spec},
                        feature_sets=(f"{name}:mean",),
                    )
                    wall, cpu = timed_store(wd, name)
                    runs[mode].append((wall, cpu))
                    print(f"{name} {mode:10s} run {rep + 1}: wall {wall:6.1f} s, "
                          f"CPU {cpu:6.1f} s", flush=True)  # fmt: skip
            a, b = (Path(tmp) / f"{name}-{m}-0" / "results/features" / f"{name}.h5"
                    for m in ("job", "iso"))  # fmt: skip
            try:
                assert_same_store(a, b)
            except AssertionError:
                attrs = [store_items(p)["@attrs"] for p in (a, b)]
                diff = {k: (attrs[0].get(k), attrs[1].get(k)) for k in set(attrs[0]) | set(attrs[1])
                        if str(attrs[0].get(k)) != str(attrs[1].get(k))}  # fmt: skip
                print(f"{name}: stores differ in their attributes: {diff}", flush=True)
                raise
            best = {m: (min(w for w, _ in r), min(c for _, c in r)) for m, r in runs.items()}
            (wj, cj), (wi, ci) = best["in the job"], best["isolated"]
            print(f"{name}: {len(sheet)} videos, best of {args.repeats}: in the job wall "
                  f"{wj:.1f} s CPU {cj:.1f} s; isolated wall {wi:.1f} s CPU {ci:.1f} s; "
                  f"isolation +{100 * (wi / wj - 1):.0f} % wall, +{100 * (ci / cj - 1):.0f} % "
                  "CPU; stores identical", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
