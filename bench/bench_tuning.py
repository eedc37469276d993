"""Fixed settings vs nested selection, and plain vs hubness-corrected retrieval, side by side on
the same folds in one run, on the demo stores.

Classification: every default classifier of config/config.yaml (``classify.classifiers`` with
their ``classify.options``) on every configured feature set of one label set. The nested run
(``search`` of the options) also fits the fixed default on the same outer training folds and
scores it on the same test rows (``fixed_*`` scores), so both numbers come from one run; the
chosen C per fold is printed. CPU seconds: the fixed-settings evaluation alone vs the nested
one (which includes the fixed fit), i.e. the classify jobs' compute before and after (each
job's start-up, 2.5-10 CPU-s, is the same in both). Late fusion: late-stack with a fixed
meta-model C=1 and with ``meta_search``.

Cross-modal: each configured pair with the shipped methods, losses and params, ranked by plain
cosine, CSLS, QB-norm and the inverted softmax (all from the training fold only): R@1, R@10,
diversity, N_10 skewness and the share of test items never in a top 10; and the CPU seconds
of the shipped cross-modal config against the previous one (methods ridge/cca/mlp/autoencoder,
temperature 0.1, cosine only).

    PYTHONPATH=src python bench/bench_tuning.py --results /path/to/results [--label-set youtube]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def cpu() -> float:
    return time.process_time()


def classify_part(cfg, features, labels_tsv, label_set):
    from trimodal.fusion.evaluate import late_fusion_from_results
    from trimodal.learn.classify import evaluate_feature_set

    cv = cfg["classify"].get("cv", {})
    folds, seed = int(cv.get("folds", 5)), int(cv.get("seed", 0))
    options = cfg["classify"].get("options", {})
    print("\n## Classifiers: fixed default vs nested selection (balanced accuracy %, same folds)\n")
    print(
        "| feature set | classifier | fixed | nested | gain | C chosen per fold | CPU s fixed / nested |"
    )
    print("|---|---|---|---|---|---|---|")
    cpu_fixed = cpu_nested = 0.0
    fixed_results: dict[str, object] = {}
    for name in cfg["classify"]["classifiers"]:
        opts = dict(options.get(name, {}))
        base = opts.pop("base", name)
        fixed_opts = {k: v for k, v in opts.items() if k not in ("search", "inner_folds")}
        for fs in cfg["classify"]["feature_sets"]:
            t0 = cpu()
            fixed = evaluate_feature_set(fs, labels_tsv, base, features, label_set, folds, seed,
                                         **fixed_opts)  # fmt: skip
            t1 = cpu()
            nested = evaluate_feature_set(fs, labels_tsv, base, features, label_set, folds, seed,
                                          **opts)  # fmt: skip
            t2 = cpu()
            cpu_fixed += t1 - t0
            cpu_nested += t2 - t1
            fixed_results[(name, fs)] = fixed
            if not nested.evaluated:
                print(f"| {fs} | {name} | {nested.not_evaluated} | | | | |")
                continue
            ba = 100 * np.mean(nested.scores["balanced_accuracy"])
            sd = 100 * np.std(nested.scores["balanced_accuracy"])
            fx = nested.scores.get("fixed_balanced_accuracy")
            # the fixed default inside the nested run is the separate fixed run, fold for fold
            assert fx is None or np.allclose(fx, fixed.scores["balanced_accuracy"])
            fxm = 100 * np.mean(fixed.scores["balanced_accuracy"])
            fxs = 100 * np.std(fixed.scores["balanced_accuracy"])
            chosen = " ".join(
                ",".join(f"{v}" for v in f["params"].values()) or "default"
                for f in nested.selection.get("per_fold", [])
            )
            print(
                f"| {fs} | {name} | {fxm:.1f} ± {fxs:.1f} | {ba:.1f} ± {sd:.1f} | "
                f"{ba - fxm:+.1f} | {chosen} | {t1 - t0:.1f} / {t2 - t1:.1f} |"
            )
    print(f"\nclassify CPU s, all rows: fixed {cpu_fixed:.1f}, nested {cpu_nested:.1f}")

    for sname, spec in (cfg.get("fusion", {}).get("sets") or {}).items():
        meta = (spec.get("options") or {}).get("meta_search")
        clf = spec.get("classifier", "ovr_linear_svc")
        bases = [fixed_results.get((clf, fs)) for fs in spec["feature_sets"]]
        if not meta or any(b is None for b in bases):
            continue
        print(f"\n## Late-stack `{sname}` (bases: {clf}, fixed settings)\n")
        plain = late_fusion_from_results(bases, "stack")
        tuned = late_fusion_from_results(bases, "stack", search=meta)
        for label, r in (("meta C=1 (fixed)", plain), (f"meta_search {meta}", tuned)):
            ba = r.scores["balanced_accuracy"]
            print(f"- {label}: {100 * np.mean(ba):.1f} ± {100 * np.std(ba):.1f}")
        print(f"- chosen per fold: {tuned.summary()['selected']}")
    return cpu_fixed, cpu_nested


def crossmodal_part(cfg, features, labels_tsv):
    from trimodal.crossmodal.evaluate import run_pairs
    from trimodal.labels.label_sets import load_labels

    cm = dict(cfg["crossmodal"])
    labels = load_labels(labels_tsv)
    new = {**cm, "rankings": ["cosine", "csls", "qbnorm", "isoftmax"]}
    old_params = {k: dict(v) for k, v in cm.get("params", {}).items() if k != "auto"}
    for m in ("mlp", "autoencoder"):
        old_params.setdefault(m, {})["temperature"] = 0.1
    old = {**cm, "methods": ["ridge", "cca", "mlp", "autoencoder"], "rankings": ["cosine"],
           "params": old_params}  # fmt: skip
    t0 = cpu()
    run_pairs(old, features, labels)
    t1 = cpu()
    df = run_pairs(new, features, labels)
    t2 = cpu()
    print("\n## Cross-modal: plain cosine vs hubness corrections (mean over folds)\n")
    print(f"{cm.get('folds', 5)} folds, label set {cm.get('label_set')}; chance in brackets.\n")
    print(
        "| pair | method/loss | ranking | R@1 | R@10 | diversity | N10 skew | never retrieved | selected per fold |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for _, r in df.iterrows():
        if isinstance(r.get("note"), str) and r["note"]:
            continue
        sel = r["selected"] if isinstance(r["selected"], str) else ""
        print(
            f"| {r['source']} → {r['target']} | {r['method']}/{r['loss']} | {r['ranking']} | "
            f"{r['R@1']:.2f} ({r['chance_R@1']:.2f}) | {r['R@10']:.2f} ({r['chance_R@10']:.2f}) | "
            f"{r['diversity']:.2f} ({r['chance_diversity']:.2f}) | "
            f"{r['n10_skew']:.2f} ({r['chance_n10_skew']:.2f}) | {r['never_retrieved']:.2f} | "
            f"{sel[:60]} |"
        )
    print(f"\ncross-modal CPU s, all pairs: previous config {t1 - t0:.1f}, shipped {t2 - t1:.1f} "
          "(with isoftmax too)")  # fmt: skip
    return t1 - t0, t2 - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results", help="folder holding features/ and labels/")
    ap.add_argument("--label-set", default="youtube")
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--skip-crossmodal", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)  # as the jobs (threads: 1)
    cfg = yaml.safe_load(open(args.config))
    res = Path(args.results)
    features, labels_tsv = res / "features", res / "labels" / f"{args.label_set}.tsv"
    print(f"# bench_tuning ({datetime.date.today()}, {platform.node()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; label set {args.label_set})")  # fmt: skip
    classify_part(cfg, features, labels_tsv, args.label_set)
    if not args.skip_crossmodal:
        crossmodal_part(cfg, features, res / "labels" / f"{cfg['crossmodal']['label_set']}.tsv")


if __name__ == "__main__":
    main()
