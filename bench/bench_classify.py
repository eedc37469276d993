"""Seconds per fold of the shipped linear classifiers, before and after, side by side.

"before" is the estimator as shipped until 2026-12 (kept here as :func:`before`):
StandardScaler, then OneVsRest(LinearSVC(class_weight="balanced", max_iter=5000)) at C=1 on
the standardised columns. "after" is what :func:`trimodal.learn.pipeline.make_classifier` builds now
(the standardised columns divided by sqrt(d), liblinear's default tol and max_iter, dual by
n vs d). Both in their plain and rebalanced form (`ovr_linear_svc_rebalanced` =
`ovr_linear_svc` with `rebalance: true` in config/config.yaml), cross-validated on the same
folds by the same run_cv. Printed per row: seconds per fold (fit only), ConvergenceWarnings,
balanced accuracy.

Data: two 500 x 1,280 synthetic matrices (make_classification with 8 imbalanced classes, and an
embedding-like one: a ReLU of a random map of a 64-d make_classification problem, non-negative
and correlated like pooled CNN features) and, when a demo run left them, the demo's pooled stores (results/features/*.h5 with the label set
results/labels/<label set>.tsv, both under --results).

    PYTHONPATH=src python bench/bench_classify.py [--results /work/main/results] [--folds 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from trimodal.labels.label_sets import align, load_labels  # noqa: E402
from trimodal.learn.classify import run_cv  # noqa: E402
from trimodal.learn.cv import label_set_folds, make_folds  # noqa: E402
from trimodal.learn.estimators import DecisionSoftmax  # noqa: E402
from trimodal.learn.pipeline import make_classifier  # noqa: E402
from trimodal.learn.rebalance import RebalancedClassifier  # noqa: E402
from trimodal.store.feature_sets import load_feature_set  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.synthetic import embedding_like  # noqa: E402 - the test's data, one generator


def before(rebalance: bool, seed: int = 0):
    """The shipped linear SVM until 2026-12 (the baseline of this benchmark)."""
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "clf",
                DecisionSoftmax(
                    OneVsRestClassifier(
                        LinearSVC(class_weight="balanced", random_state=seed, max_iter=5000)
                    )
                ),
            ),
        ]
    )
    return RebalancedClassifier(pipe, seed) if rebalance else pipe


def after(rebalance: bool, seed: int = 0):
    """What the workflow ships now."""
    return make_classifier("ovr_linear_svc", seed=seed, rebalance=rebalance)


def measure(X, y, ids, folds, make) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        r = run_cv(X, y, ids, make(), folds=folds)
    s = r.summary()
    return {
        "s/fold": s["fit_time_s_mean"],
        "warnings": sum(issubclass(w.category, ConvergenceWarning) for w in caught),
        "bal. acc.": s["balanced_accuracy_mean"],
        "folds": s["n_folds"],
    }


def synthetic(seed: int = 0):
    X, yi = make_classification(
        n_samples=500,
        n_features=1280,
        n_informative=64,
        n_redundant=128,
        n_classes=8,
        weights=[0.3, 0.2, 0.12, 0.1, 0.1, 0.08, 0.06, 0.04],
        class_sep=2.0,  # at 1.0 both stay near chance (12.5 %) and the comparison is noise
        random_state=seed,
    )
    y = np.array([f"c{i}" for i in yi], dtype=object)
    ids = np.array([f"v{i:03d}" for i in range(len(y))], dtype=object)
    return X, y, ids


def demo_sets(results: Path, label_set: str) -> list[str]:
    """The demo's pooled feature sets that exist under results/features."""
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    out = []
    for fs in cfg["classify"]["feature_sets"]:
        name, _, pooling = fs.partition(":")
        if pooling != "text" and (results / "features" / f"{name}.h5").exists():
            out.append(fs)
    return out if (results / "labels" / f"{label_set}.tsv").exists() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    ap.add_argument("--label-set", default="youtube")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()

    cases = []
    X, y, ids = synthetic()
    cases.append(
        ("make_classification 500 x 1280", X, y, ids, make_folds(ids, y, None, args.folds, 0))
    )
    X, y, ids = embedding_like()
    cases.append(("embedding-like 500 x 1280", X, y, ids, make_folds(ids, y, None, args.folds, 0)))
    sets = demo_sets(args.results, args.label_set)
    if sets:
        labels = load_labels(args.results / "labels" / f"{args.label_set}.tsv")
        fset = label_set_folds(labels, args.folds, 0)
        for fs in sets:
            Xd, idd, _ = load_feature_set(fs, args.results / "features")
            Xd, yd, idd, _ = align(Xd, idd, labels)
            cases.append((f"demo {fs} {Xd.shape[0]} x {Xd.shape[1]}", Xd, yd, idd, fset))
    else:
        print(f"(no demo stores under {args.results}/features: synthetic matrix only)\n")

    print(
        f"# bench_classify {datetime.date.today()} on {platform.node()}: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    head = ["data", "classifier", "before s/fold", "after s/fold", "speed-up",
            "before warnings", "after warnings", "before bal. acc.", "after bal. acc."]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, X, y, ids, folds in cases:
        for rebalance in (False, True):
            clf = "ovr_linear_svc" + ("_rebalanced" if rebalance else "")
            b = measure(X, y, ids, folds, lambda r=rebalance: before(r))
            a = measure(X, y, ids, folds, lambda r=rebalance: after(r))
            cells = [
                name,
                clf,
                f"{b['s/fold']:.2f}",
                f"{a['s/fold']:.2f}",
                f"{b['s/fold'] / max(a['s/fold'], 1e-9):.1f}×",
                str(b["warnings"]),
                str(a["warnings"]),
                f"{100 * b['bal. acc.']:.1f}",
                f"{100 * a['bal. acc.']:.1f}",
            ]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
