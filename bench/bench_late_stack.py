"""Late-stack fusion on the demo stores: the old one-level stacking (meta-classifier on the
base results' out-of-fold probabilities; its base models saw the meta-test rows) beside the
nested one the workflow now runs (base models refitted inside every outer fold).

    python bench/bench_late_stack.py [--features results/features] [--out /tmp/late_stack]

Reads the stores only; writes the label set and results under --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trimodal.fusion.evaluate import late_fusion_from_results
from trimodal.learn.classify import CVResult
from trimodal.stages.classify import classify_one
from trimodal.stages.fuse import fuse_one
from trimodal.stages.labels import make_label_set

SETS = ["yamnet:mean", "effnet:mean", "sbert_minilm_description:mean"]  # the shipped fusion set


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", default="results/features")
    ap.add_argument("--sheet", default="config/videos.tsv")
    ap.add_argument("--out", default="/tmp/late_stack")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = str(out / "youtube.tsv")
    make_label_set(a.sheet, {"from": "label", "min_count": 2}, labels)
    cv = {"folds": 5, "seed": 0}
    bases = []
    for fs in SETS:
        ex, pooling = fs.split(":")
        path = out / f"{ex}.{pooling}.h5"
        classify_one(store_path=f"{a.features}/{ex}.h5", pooling=pooling, labels_tsv=labels,
                     label_set="youtube", classifier="ovr_linear_svc", cv=cv, options={},
                     output=str(path))  # fmt: skip
        bases.append(CVResult.from_h5(path))
    old = late_fusion_from_results(bases, method="stack")
    new = fuse_one(kind="late-stack", feature_sets=SETS, labels_tsv=labels, label_set="youtube",
                   features_dir=a.features, classifier="ovr_linear_svc", cv=cv, options={},
                   output=str(out / "late-stack.h5"))  # fmt: skip
    for name, r in (("one-level (old)", old), ("nested (new)", new)):
        s = r.summary()
        print(f"{name}: balanced accuracy {100 * s['balanced_accuracy_mean']:.1f} ± "
              f"{100 * s['balanced_accuracy_std']:.1f} %")  # fmt: skip


if __name__ == "__main__":
    main()
