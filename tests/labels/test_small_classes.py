"""Every learner survives tiny classes (issue 24): 2 videos per class, with 4 classes and with
40, through every classifier and every fusion kind — scored, or "not evaluated" with a reason,
never an exception."""

from __future__ import annotations

import numpy as np
import pytest

from trimodal.fusion.evaluate import late_fusion_from_results
from trimodal.fusion.net import IntermediateFusionClassifier
from trimodal.learn.classifiers import CLASSIFIERS
from trimodal.learn.classify import run_cv
from trimodal.learn.cv import make_folds


def tiny(n_classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat([f"c{i:02d}" for i in range(n_classes)], 2).astype(object)
    ids = np.array([f"v{i:03d}" for i in range(len(y))], dtype=object)
    X = np.abs(rng.normal(size=(len(y), 6))) + np.repeat(np.arange(n_classes), 2)[:, None] * 0.1
    return X, y, ids, make_folds(ids, y, None, 5, seed)


@pytest.mark.parametrize("n_classes", [4, 40])
@pytest.mark.parametrize("name", sorted(n for n, k in CLASSIFIERS.items() if not k.raw_text))
def test_every_classifier_on_two_videos_per_class(name, n_classes):
    X, y, ids, folds = tiny(n_classes)
    result = run_cv(X, y, ids, name, folds)
    assert result.evaluated and result.n_folds == 2
    assert set(result.y_pred) <= set(y)


@pytest.mark.parametrize("n_classes", [4, 40])
def test_intermediate_fusion_on_two_videos_per_class(n_classes):
    """Was: ValueError 'classes should have valid labels that are in y' (the inner validation
    split left classes out of its training part)."""
    X, y, ids, folds = tiny(n_classes)
    est = IntermediateFusionClassifier(block_slices={"a": (0, 3), "b": (3, 6)}, max_epochs=20)
    result = run_cv(X, y, ids, est, folds)
    assert result.evaluated
    fitted = est.fit(X[::2], y[::2])  # one row per class
    assert fitted.early_stopping_.startswith("training loss (no validation split")


def test_intermediate_fusion_keeps_its_validation_split_when_classes_allow():
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 20).astype(object)
    est = IntermediateFusionClassifier(max_epochs=5).fit(rng.normal(size=(40, 4)), y)
    assert est.early_stopping_ == "validation split"


def test_mlp_drops_early_stopping_only_when_the_split_cannot_hold_the_classes():
    from trimodal.learn.estimators import SmallClassMLP

    X, y, _, _ = tiny(4)
    mlp = SmallClassMLP(early_stopping=True, max_iter=50, random_state=0).fit(X[::2], y[::2])
    assert mlp.early_stopping_.startswith("off") and mlp.get_params()["early_stopping"] is True
    rng = np.random.default_rng(0)
    y2 = np.repeat(["a", "b"], 30)
    mlp = SmallClassMLP(early_stopping=True, max_iter=50, random_state=0)
    assert mlp.fit(rng.normal(size=(60, 3)), y2).early_stopping_ == "on"


@pytest.mark.parametrize("n_classes", [4, 40])
@pytest.mark.parametrize("method", ["stack", "mean", "vote"])
def test_late_fusion_on_two_videos_per_class(method, n_classes):
    X, y, ids, folds = tiny(n_classes)
    base = [
        run_cv(X[:, :3], y, ids, "logreg", folds, feature_set="a:mean"),
        run_cv(X[:, 3:], y, ids, "logreg", folds, feature_set="b:mean"),
    ]
    assert late_fusion_from_results(base, method=method, folds=5, seed=0).evaluated


@pytest.mark.slow
def test_forty_classes_of_two_videos_through_the_workflow(tmp_path):
    """80 rows (real clips reused under new ids), 40 labels of 2 videos each: every vector
    classifier and every fusion kind through the real workflow, exit 0, every result written."""
    import pandas as pd
    import yaml

    from tests.workflow_project import SMALL_EXTRACTORS, make_project, small_sheet, snakemake
    from trimodal.fusion.kinds import FUSION_KINDS

    base = small_sheet(per_label=2, extra_ids=())
    rows = []
    for i in range(80):
        row = base.iloc[i % len(base)].to_dict()
        rows.append({**row, "video_id": f"v{i:02d}", "label": f"class{i // 2:02d}",
                     "description": f"{row['description']} (copy {i})"})  # fmt: skip
    extractors = {k: SMALL_EXTRACTORS[k] for k in ("sbert_desc", "yamnet")}
    wd = make_project(tmp_path, pd.DataFrame(rows), extractors=extractors,
                      feature_sets=("sbert_desc:mean", "yamnet:mean"))  # fmt: skip
    cfg_path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    classifiers = sorted(n for n, k in CLASSIFIERS.items() if not k.raw_text)
    cfg["classify"]["classifiers"] = classifiers
    cfg["fusion"] = {"sets": {"at": {"feature_sets": ["sbert_desc:mean", "yamnet:mean"],
                                     "kinds": sorted(FUSION_KINDS),
                                     "options": {"max_epochs": 20}}}}  # fmt: skip
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(wd, timeout=1800)  # exit 0 (raises otherwise)
    results = wd / "results"
    for fs in ("sbert_desc.mean", "yamnet.mean"):
        for name in classifiers:
            assert (results / "classify" / "youtube" / fs / f"{name}.h5").exists(), (fs, name)
    for kind in FUSION_KINDS:
        assert (results / "fusion" / "youtube" / kind / "at.h5").exists(), kind
    assert "class39" in (results / "report" / "youtube" / "summary.md").read_text()


@pytest.mark.parametrize("n_classes", [4, 40])
def test_late_stack_on_two_videos_per_class_is_not_evaluated_with_its_reason(n_classes):
    from trimodal.fusion.evaluate import NestedStacking
    from trimodal.learn.cv import NotEvaluated

    X, y, ids, folds = tiny(n_classes)
    with pytest.raises(NotEvaluated, match="late-stack needs 2 training videos of every class"):
        run_cv(X, y, ids, NestedStacking(base="logreg"), folds)
