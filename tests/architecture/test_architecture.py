"""The recipes of docs/architecture.md, done from a test: a new extractor is one module plus
one config entry, run through the real workflow."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.workflow_project import make_project, planned_jobs, small_sheet, snakemake
from trimodal.store import features as store

pytestmark = pytest.mark.slow

TOY_EXTRACTOR = '''
"""A toy text extractor: the description's length in characters and in words."""
import numpy as np

from trimodal.extractors.base import Extractor, Features, Param


class LengthExtractor(Extractor):
    name = "length"
    modality = "text"
    PARAMS = {"scale": Param(float, 1.0, "multiplies both lengths", gt=0),
              "sources": Param(list, ["description"], "text sources")}
    POOLINGS = ("mean",)

    def extract(self, item):
        text = item.description or ""
        v = np.array([len(text), len(text.split())], dtype=np.float32) * self.param("scale")
        return Features(pooled={"mean": v}, text=text)
'''


def test_a_plugin_extractor_is_one_module_plus_one_config_entry(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "toy_length.py").write_text(TOY_EXTRACTOR)
    sheet = small_sheet(per_label=1, extra_ids=())
    extractors = {"length": {"kind": "toy_length:LengthExtractor",
                             "model": None, "params": {"scale": 2.0}}}  # fmt: skip
    wd = make_project(tmp_path / "wd", sheet, extractors, feature_sets=("length:mean",))
    env = {"PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    snakemake(wd, "results/features/length.h5", env=env)
    X, ids = store.load_pooled(wd / "results" / "features" / "length.h5", "mean")
    texts = sheet.set_index("video_id")["description"]
    expected = np.array([[len(texts[v]) * 2, len(texts[v].split()) * 2] for v in ids])
    np.testing.assert_allclose(X, expected)
    # its code is part of the rerun trigger like a built-in extractor's
    (plugins / "toy_length.py").write_text(TOY_EXTRACTOR + "\n# an edit\n")
    jobs = planned_jobs(wd, "results/features/length.h5", env=env)
    assert jobs.get("extract_length") == 1, jobs
    # a bad parameter is caught before any job, like a built-in extractor's
    cfg = (wd / "config" / "config.yaml").read_text()
    (wd / "config" / "config.yaml").write_text(cfg.replace("scale: 2.0", "scale: -1"))
    proc = snakemake(wd, "-n", env=env, check=False)
    assert proc.returncode != 0 and "extractors.length.params.scale" in proc.stderr


TOY_FUSION = '''
"""A toy fusion kind: early fusion that always uses logistic regression."""
from trimodal.fusion.kinds import register_fusion_kind


def early_logreg(job):
    from trimodal.fusion.evaluate import evaluate_early

    result = evaluate_early(job.feature_sets, job.labels_tsv, "logreg", job.features_dir,
                            job.label_set, folds=job.folds, seed=job.seed)
    result.kind = "early-logreg"
    return result


register_fusion_kind("early-logreg", "features", early_logreg)
'''


TOY_CLASSIFIER = '''
"""A toy classifier: k nearest neighbours."""
from trimodal.learn.classifiers import register_classifier


def knn(seed, class_weight, proba, params):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(**{"n_neighbors": 3, **params})


register_classifier("knn", knn)
'''


def test_a_plugin_fusion_kind_and_classifier_are_one_module_plus_one_config_entry(tmp_path):
    import yaml

    from trimodal.learn.results import CVResult

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "toy_fusion.py").write_text(TOY_FUSION)
    (plugins / "toy_classifier.py").write_text(TOY_CLASSIFIER)
    wd = make_project(tmp_path / "wd", small_sheet(per_label=2, extra_ids=()),
                      feature_sets=("sbert_desc:mean", "yamnet:mean"))  # fmt: skip
    cfg_path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["extractors"] = {k: v for k, v in cfg["extractors"].items() if k != "effnet"}
    cfg["classify"]["plugins"] = ["toy_classifier"]
    cfg["classify"]["classifiers"] = [*cfg["classify"]["classifiers"], "knn"]
    cfg["fusion"] = {
        "plugins": ["toy_fusion"],
        "sets": {"at": {"feature_sets": ["sbert_desc:mean", "yamnet:mean"],
                        "kinds": ["early-logreg", "late-mean"]}},
    }  # fmt: skip
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {"PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    snakemake(wd, env=env)
    result = CVResult.from_h5(wd / "results/fusion/youtube/early-logreg/at.h5")
    assert result.kind == "early-logreg" and result.classifier == "logreg"
    summary = (wd / "results/report/youtube/summary.md").read_text()
    assert "early-logreg" in summary and "knn" in summary
    knn = CVResult.from_h5(wd / "results/classify/youtube/yamnet.mean/knn.h5")
    assert knn.evaluated and knn.classifier == "knn" and len(knn.scores["accuracy"]) >= 2
    # a kind that no module registers is a config error before any job
    cfg["fusion"]["sets"]["at"]["kinds"] = ["early-logreg", "early-svm"]
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(wd, "-n", env=env, check=False)
    assert proc.returncode != 0 and "fusion.sets.at.kinds[1]" in proc.stderr
    # so is a classifier that no module registers
    cfg["fusion"]["sets"]["at"]["kinds"] = ["early-logreg"]
    cfg["classify"]["classifiers"] = ["knn", "knm"]
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(wd, "-n", env=env, check=False)
    assert proc.returncode != 0 and "classify.classifiers[1]" in proc.stderr
    assert "did you mean 'knn'" in proc.stderr
