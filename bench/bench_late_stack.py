"""Late-stack fusion on the demo stores: the old one-level stacking (meta-classifier on the
base results' out-of-fold probabilities; its base models saw the meta-test rows) beside the
nested one the workflow now runs (base models refitted inside every outer fold), and the
workflow's late-stack with its meta-model's C searched inside each outer training fold
(`meta_search`, issue 36) beside the fixed meta-model on the same folds.

    python bench/bench_late_stack.py [--features results/features] [--out /tmp/late_stack]
        [--sets yamnet:mean,effnet:mean,sbert_minilm_description:mean] [--meta-c 0.1,1,10]

Reads the stores only; writes the label set and results under --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trimodal.fusion.evaluate import late_fusion_from_results
from trimodal.learn.results import CVResult
from trimodal.stages.classify import classify_one
from trimodal.stages.fuse import fuse_one
from trimodal.stages.labels import make_label_set

SETS = ["yamnet:mean", "effnet:mean", "sbert_minilm_description:mean"]  # the shipped fusion set


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", default="results/features")
    ap.add_argument("--sheet", default="config/videos.tsv")
    ap.add_argument("--out", default="/tmp/late_stack")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--meta-c", default="0.1,1,10")
    a = ap.parse_args()
    sets = a.sets.split(",")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = str(out / "youtube.tsv")
    make_label_set(a.sheet, {"from": "label", "min_count": 2}, labels)
    cv = {"folds": 5, "seed": 0}
    bases = []
    for fs in sets:
        ex, pooling = fs.split(":")
        path = out / f"{ex}.{pooling}.h5"
        classify_one(store_path=f"{a.features}/{ex}.h5", pooling=pooling, labels_tsv=labels,
                     label_set="youtube", classifier="ovr_linear_svc", cv=cv, options={},
                     output=str(path))  # fmt: skip
        bases.append(CVResult.from_h5(path))
    old = late_fusion_from_results(bases, method="stack")
    new = fuse_one(kind="late-stack", feature_sets=sets, labels_tsv=labels, label_set="youtube",
                   features_dir=a.features, classifier="ovr_linear_svc", cv=cv, options={},
                   output=str(out / "late-stack.h5"))  # fmt: skip
    meta = {"C": [float(c) for c in a.meta_c.split(",")]}
    searched = fuse_one(kind="late-stack", feature_sets=sets, labels_tsv=labels,
                        label_set="youtube", features_dir=a.features,
                        classifier="ovr_linear_svc", cv=cv, options={"meta_search": meta},
                        output=str(out / "late-stack-search.h5"))  # fmt: skip
    for name, r in (("one-level (old)", old), ("nested (new)", new), ("meta_search", searched)):
        s = r.summary()
        print(f"{name}: balanced accuracy {100 * s['balanced_accuracy_mean']:.1f} ± "
              f"{100 * s['balanced_accuracy_std']:.1f} %")  # fmt: skip
    s = searched.summary()
    print(f"  its fixed meta-model on the same folds: "
          f"{100 * s['fixed_balanced_accuracy_mean']:.1f} ± "
          f"{100 * s['fixed_balanced_accuracy_std']:.1f} %; chosen: {s['selected']}")  # fmt: skip


if __name__ == "__main__":
    main()
