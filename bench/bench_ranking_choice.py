"""Cosine vs each hubness correction vs the one chosen inside each training fold (``select``).

A synthetic corpus of --n items with hubs (tests/crossmodal/test_ranking_choice.py: targets of which a few
lean far along one direction, sources a noisy linear image of them), mapped by ridge and scored
by 3-fold retrieval (trimodal.crossmodal.evaluate.crossmodal_cv): one fit per fold, every
ranking on the same fits. Prints R@1, MRR and the N_10 skewness per ranking and seed, their means,
and what ``select`` chose in each fold.

    python bench/bench_ranking_choice.py [--n 300] [--seeds 3] [--beta 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.crossmodal.test_ranking_choice import hub_pairs  # noqa: E402
from trimodal.crossmodal.evaluate import crossmodal_cv  # noqa: E402

RANKINGS = ("cosine", "csls", "isoftmax", "qbnorm", "select")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--beta", type=float, default=20.0, help="beta of the fixed softmaxes")
    args = ap.parse_args()
    table: dict[str, list[tuple[float, float, float]]] = {r: [] for r in RANKINGS}
    chose: Counter = Counter()
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        Xs, Xt = hub_pairs(n=args.n, seed=seed)
        out = crossmodal_cv(
            Xs, Xt, None, "ridge", folds=3, seed=seed, rankings=RANKINGS, beta=args.beta
        )
        for r, v in out["by_ranking"].items():
            table[r].append((v["R@1"], v["mrr"], v["n10_skew"]))
        chose.update(f["fit_ranking"] for f in out["by_ranking"]["select"]["per_fold"])
        print(
            f"seed {seed}: "
            + ", ".join(f"{r} {v['R@1']:.3f}" for r, v in out["by_ranking"].items())
        )
    print(f"\n{args.n} items, {args.seeds} seeds x 3 folds, ridge, fixed beta {args.beta:g}; "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    print("| ranking | R@1 | MRR | N_10 skew |\n|---|---|---|---|")
    for r, rows in table.items():
        a = np.array(rows)
        print(f"| {r} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | {a[:, 2].mean():.2f} |")
    print("select chose: " + ", ".join(f"{k} x{v}" for k, v in chose.most_common()))


if __name__ == "__main__":
    main()
