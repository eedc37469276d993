"""One CV protocol for every number: grouped folds on every evaluation path, the same folds
stored with every result, and degenerate label sets reported instead of scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trimodal.extractors.base import Features
from trimodal.fusion.evaluate import late_fusion_from_results
from trimodal.labels.label_sets import load_labels
from trimodal.learn.classifiers import vector_classifiers
from trimodal.learn.classify import run_cv
from trimodal.learn.cv import NotEvaluated, agreed_folds, label_set_folds, make_folds
from trimodal.learn.results import CVResult
from trimodal.stages.classify import classify_one
from trimodal.stages.crossmodal import crossmodal_pair
from trimodal.stages.fuse import fuse_one
from trimodal.stages.labels import make_label_set
from trimodal.stages.report import make_report
from trimodal.store import features as store

N_GROUPS, PER_GROUP, FOLDS = 24, 3, 3
CLASSES = np.array(["a", "b", "c"])
WORDS = "red blue green cat dog fish sun moon star tree rock sea".split()

# every classifier family, with options that keep the fits fast
FAMILY_OPTIONS = {
    "mlp": {"max_iter": 60},
    "hgb": {"max_iter": 10},
    "svc": {},
    "ovr_svc": {},
}


def near_duplicate_corpus(seed: int = 0):
    """N_GROUPS groups of PER_GROUP clips: per group one random centre (per modality) plus tiny
    noise, and one random label per group. Only memorising a group can predict its label."""
    rng = np.random.default_rng(seed)
    group_label = rng.permutation(np.repeat(CLASSES, N_GROUPS // len(CLASSES)))
    rows = []
    for g in range(N_GROUPS):
        for c in range(PER_GROUP):
            rows.append(
                {"video_id": f"g{g:02d}c{c}", "label": group_label[g], "group": f"G{g:02d}"}
            )
    labels = pd.DataFrame(rows)
    feats = {}
    for name, d in (("aud", 40), ("vid", 48), ("txt", 32)):
        centre = rng.normal(size=(N_GROUPS, d))
        feats[name] = np.repeat(centre, PER_GROUP, axis=0) + 1e-3 * rng.normal(
            size=(len(labels), d)
        )
    group_words = [" ".join(rng.choice(WORDS, 4)) for _ in range(N_GROUPS)]
    texts = [group_words[i // PER_GROUP] for i in range(len(labels))]
    return labels, feats, texts


def write_store(feat_dir, tmp, name, modality, ids, X=None, texts=None):
    files = []
    for i, vid in enumerate(ids):
        f = tmp / "pv" / name / f"{vid}.h5"
        header = {"extractor": name, "kind": "x", "modality": modality, "model": "", "params": {}}
        feats = Features(pooled={"mean": X[i]}) if texts is None else Features(text=texts[i])
        store.write_video_file(f, vid, header, features=feats)
        files.append(f)
    store.aggregate(files, feat_dir / f"{name}.h5")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grouped")
    labels, feats, texts = near_duplicate_corpus()
    feat_dir = tmp / "features"
    ids = labels["video_id"].to_numpy()
    for name, modality in (("aud", "audio"), ("vid", "video"), ("txt", "text")):
        write_store(feat_dir, tmp, name, modality, ids, X=feats[name])
    write_store(feat_dir, tmp, "raw", "text", ids, texts=texts)
    labels_tsv = tmp / "grouped.tsv"
    labels.to_csv(labels_tsv, sep="\t", index=False)
    return tmp, feat_dir, labels_tsv, labels, feats


def assert_groups_on_one_side(folds: pd.Series, labels: pd.DataFrame) -> None:
    group = labels.set_index("video_id")["group"].reindex(folds.index)
    per_group = folds.groupby(group.to_numpy()).nunique()
    assert (per_group == 1).all(), per_group[per_group > 1]


def classify(corpus, classifier, options, pooling="mean", store_name="aud"):
    tmp, feat_dir, labels_tsv, _, _ = corpus
    out = tmp / "classify" / f"{store_name}_{classifier}.h5"
    return classify_one(
        store_path=str(feat_dir / f"{store_name}.h5"),
        pooling=pooling,
        labels_tsv=str(labels_tsv),
        label_set="grouped",
        classifier=classifier,
        cv={"folds": FOLDS, "seed": 0},
        options=dict(options),
        output=str(out),
    ), out


def _tiny_bert(path, texts):
    """A 2-layer BERT with random weights and a word-level tokenizer, saved offline."""
    from tests.tiny_models import save_tiny_bert

    return save_tiny_bert(path, texts, max_positions=32)


def test_every_path_keeps_groups_together_on_the_same_stored_folds_random_weights(corpus):
    """Each classifier family, the fine-tuned transformer (tiny random BERT), each fusion kind
    and cross-modal retrieval: groups never straddle a split, and the stored folds of all of
    them are the label set's folds, video for video."""
    tmp, feat_dir, labels_tsv, labels, _ = corpus
    reference = label_set_folds(load_labels(labels_tsv), FOLDS, 0)
    assert reference.grouped and reference.n_folds == FOLDS
    assert_groups_on_one_side(reference.fold, labels)

    stored: dict[str, pd.Series] = {}
    base = {}
    for name in vector_classifiers():
        r, out = classify(corpus, name, FAMILY_OPTIONS.get(name, {}))
        assert r.evaluated, (name, r.not_evaluated)
        stored[name] = CVResult.from_h5(out).folds
        base[name] = out
    r, out = classify(
        corpus, "ovr_linear_svc_rebalanced", {"base": "ovr_linear_svc", "rebalance": True}
    )
    stored["ovr_linear_svc_rebalanced"] = CVResult.from_h5(out).folds
    r, out = classify(corpus, "complement_nb", {}, pooling="text", store_name="raw")
    stored["text tf-idf"] = CVResult.from_h5(out).folds

    texts = store.load_text(feat_dir / "raw.h5").tolist()
    opts = {
        "base": "finetune",
        "model": _tiny_bert(tmp / "bert", texts),
        "epochs": 1,
        "lr": 1e-3,
        "batch_size": 16,
        "patience": 1,
        "num_threads": 1,
        "device": "cpu",
    }
    r, out = classify(corpus, "finetune", opts, pooling="text", store_name="raw")
    assert r.evaluated and r.n_folds == FOLDS
    stored["finetune"] = CVResult.from_h5(out).folds

    # late fusion of three single-modality results of one classifier
    bases = []
    for s in ("aud", "vid", "txt"):
        _, out = classify(corpus, "ovr_linear_svc", {}, store_name=s)
        bases.append(str(out))
    sets = ["aud:mean", "vid:mean", "txt:mean"]
    for kind, options in (
        ("early", {}),
        ("intermediate", {"max_epochs": 20, "patience": 5, "device": "cpu"}),
        ("late-stack", {}),
        ("late-mean", {}),
        ("late-vote", {}),
    ):
        out = tmp / "fusion" / f"{kind}.h5"
        fuse_one(
            kind=kind,
            feature_sets=sets,
            labels_tsv=str(labels_tsv),
            label_set="grouped",
            features_dir=str(feat_dir),
            classifier="ovr_linear_svc",
            cv={"folds": FOLDS, "seed": 0},
            options=dict(options),
            base_results=bases,
            output=str(out),
        )
        back = CVResult.from_h5(out)
        assert back.evaluated and back.kind == kind
        stored[kind] = back.folds

    spec = {
        "pairs": [{"source": "aud:mean", "target": "vid:mean"}],
        "methods": ["ridge", "cca", "mlp"],
        "folds": FOLDS,
        "seed": 0,
        "params": {"mlp": {"max_epochs": 5, "patience": 2}},
    }
    out = tmp / "crossmodal" / "aud.mean__vid.mean.tsv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table = crossmodal_pair(spec, str(labels_tsv), str(feat_dir), str(out))
    assert len(table) == 3 and (table["n"] == len(labels)).all()
    cm = pd.read_csv(out.with_suffix(".folds.tsv"), sep="\t", dtype={"video_id": str})
    stored["crossmodal"] = cm.set_index("video_id")["fold"]

    ref = reference.fold.sort_index()
    for path, folds in stored.items():
        assert len(folds) == len(labels), path
        assert_groups_on_one_side(folds, labels)
        np.testing.assert_array_equal(folds.sort_index().to_numpy(), ref.to_numpy(), err_msg=path)
        assert list(folds.sort_index().index) == list(ref.index), path


def test_a_leaky_split_scores_higher_than_the_grouped_one(corpus):
    """Ignoring the groups puts near-duplicates of a test clip in training: the score jumps
    from chance to near-perfect, which is what the grouped folds prevent."""
    _, _, _, labels, feats = corpus
    X, y, ids = feats["aud"], labels["label"].to_numpy(), labels["video_id"].to_numpy()
    grouped = run_cv(X, y, ids, "ovr_linear_svc", folds=label_set_folds(labels, FOLDS, 0))
    leaky_folds = label_set_folds(labels.drop(columns="group"), FOLDS, 0)
    assert not leaky_folds.grouped
    leaky = run_cv(X, y, ids, "ovr_linear_svc", folds=leaky_folds)
    g = grouped.summary()["balanced_accuracy_mean"]
    k = leaky.summary()["balanced_accuracy_mean"]
    assert k > 0.8, k  # a group whose clips all fall into one test fold is still unseen
    assert g < 0.6, g  # chance is 1/3: the group's label is random
    assert k - g > 0.3


def test_folds_do_not_depend_on_row_order_and_empty_groups_stand_alone():
    labels, _, _ = near_duplicate_corpus(1)
    a = label_set_folds(labels, 3, 0)
    b = label_set_folds(labels.sample(frac=1.0, random_state=3), 3, 0)
    pd.testing.assert_series_equal(a.fold, b.fold)
    assert not a.fold.equals(label_set_folds(labels, 3, 1).fold)  # the seed matters
    # a video without a group is a group of its own, not one big "" group
    half = labels.copy()
    half.loc[half.index % 2 == 0, "group"] = ""
    f = label_set_folds(half, 3, 0)
    assert f.grouped
    grouped_rows = half[half["group"] != ""]
    assert_groups_on_one_side(f.fold.reindex(grouped_rows["video_id"]), grouped_rows)
    alone = half[half["group"] == ""]["video_id"]
    assert f.fold.reindex(alone).nunique() == 3  # spread over the folds, not one block


def test_folds_reduced_to_what_the_smallest_class_allows():
    ids = [f"v{i}" for i in range(20)]
    y = ["a"] * 17 + ["b"] * 3
    f = make_folds(ids, y, None, 5, 0)
    assert f.n_folds == 3 and "reduced from 5 to 3" in f.note
    groups = [f"g{i // 2}" for i in range(20)]  # class b: groups g8 (v16, v17), g9 (v18, v19)
    y2 = ["a"] * 16 + ["b"] * 4
    fg = make_folds(ids, y2, groups, 5, 0)
    assert fg.n_folds == 2 and "2 groups" in fg.note
    with pytest.raises(NotEvaluated, match="smallest class has 1 video"):
        make_folds(ids, ["a"] * 19 + ["b"], None, 5, 0)


def test_late_fusion_rejects_base_results_scored_on_other_folds(corpus):
    _, _, _, labels, feats = corpus
    y, ids = labels["label"].to_numpy(), labels["video_id"].to_numpy()
    a = run_cv(feats["aud"], y, ids, "logreg", folds=label_set_folds(labels, 3, 0))
    b = run_cv(feats["vid"], y, ids, "logreg", folds=label_set_folds(labels, 3, 1))
    with pytest.raises(ValueError, match="other folds"):
        late_fusion_from_results([a, b])
    c = run_cv(feats["vid"], y, ids, "logreg", folds=label_set_folds(labels, 3, 0))
    fused = late_fusion_from_results([a, c], method="mean")
    pd.testing.assert_series_equal(
        fused.folds.sort_index(), a.folds.sort_index(), check_names=False
    )
    with pytest.raises(ValueError, match="other folds"):
        agreed_folds({"x": a.folds, "y": b.folds})


# ----------------------------------------------------------------------------- degenerate cases


def _stores(tmp, ids, n_dim=6, seed=0):
    rng = np.random.default_rng(seed)
    feat_dir = tmp / "features"
    for name, modality in (("aud", "audio"), ("vid", "video")):
        write_store(feat_dir, tmp, name, modality, ids, X=rng.normal(size=(len(ids), n_dim)))
    return feat_dir


def _run_jobs(tmp, feat_dir, labels_tsv, label_set, store_names=("aud", "vid")):
    """classify (logreg and the shipped SVM) on each store, every fusion kind, crossmodal,
    and the report: the way the workflow runs them."""
    cv = {"folds": 3, "seed": 0}
    outs = []
    for s in store_names:
        for clf in ("logreg", "ovr_linear_svc"):
            out = tmp / "classify" / label_set / f"{s}_{clf}.h5"
            classify_one(
                store_path=str(feat_dir / f"{s}.h5"),
                pooling="mean",
                labels_tsv=str(labels_tsv),
                label_set=label_set,
                classifier=clf,
                cv=cv,
                options={},
                output=str(out),
            )
            outs.append(out)
    bases = [str(o) for o in outs if o.stem.endswith("ovr_linear_svc")]
    for kind in ("early", "intermediate", "late-stack"):
        out = tmp / "fusion" / label_set / f"{kind}.h5"
        fuse_one(
            kind=kind,
            feature_sets=[f"{s}:mean" for s in store_names],
            labels_tsv=str(labels_tsv),
            label_set=label_set,
            features_dir=str(feat_dir),
            classifier="ovr_linear_svc",
            cv=cv,
            options={"max_epochs": 5, "device": "cpu"} if kind == "intermediate" else {},
            base_results=bases,
            output=str(out),
        )
        outs.append(out)
    cm_out = tmp / "crossmodal" / label_set / "aud.mean__vid.mean.tsv"
    cm_out.parent.mkdir(parents=True, exist_ok=True)
    spec = {"pairs": [{"source": "aud:mean", "target": "vid:mean"}], "methods": ["ridge"]}
    cm = crossmodal_pair({**spec, "folds": 3}, str(labels_tsv), str(feat_dir), str(cm_out))
    paths = make_report([str(o) for o in outs], str(tmp / "report"), label_set)
    md = (tmp / "report" / label_set / "summary.md").read_text()
    return [CVResult.from_h5(o) for o in outs], cm, md, paths


def test_one_class_among_the_covered_videos_is_reported_not_scored(tmp_path):
    """An AD track that exists for one category only: its store covers one class."""
    ids = [f"v{i:02d}" for i in range(30)]
    y = np.array(["a", "b", "c"])[np.arange(30) % 3]
    labels = pd.DataFrame({"video_id": ids, "label": y})
    labels_tsv = tmp_path / "cat.tsv"
    labels.to_csv(labels_tsv, sep="\t", index=False)
    only_a = [v for v, lab in zip(ids, y, strict=True) if lab == "a"]
    feat_dir = _stores(tmp_path, only_a)
    results, cm, md, paths = _run_jobs(tmp_path, feat_dir, labels_tsv, "cat")
    for r in results:
        assert not r.evaluated, r.name
        assert np.isnan(r.summary()["balanced_accuracy_mean"])  # never 100 %
    single = [r for r in results if r.kind == "single"]
    assert all(
        r.not_evaluated == "not evaluated: 1 class among the 10 covered videos" for r in single
    )
    assert "aud:mean / logreg: not evaluated: 1 class among the 10 covered videos" in md
    assert "100.0" not in md
    late = next(r for r in results if r.kind == "late-stack")  # nested: reads the stores
    assert "1 class among the 10 covered videos" in late.not_evaluated
    # retrieval has no class to predict: it is still evaluated on the covered videos
    assert (cm["note"] == "").all() and (cm["n"] == 10).all()
    assert "No fusion verdict" in paths["verdict"]


def test_a_label_set_merged_into_one_class_is_reported_not_scored(tmp_path):
    ids = [f"v{i:02d}" for i in range(12)]
    labels_tsv = tmp_path / "merged.tsv"
    pd.DataFrame({"video_id": ids, "label": "all"}).to_csv(labels_tsv, sep="\t", index=False)
    feat_dir = _stores(tmp_path, ids)
    results, cm, md, _ = _run_jobs(tmp_path, feat_dir, labels_tsv, "merged")
    reason = "not evaluated: 1 class among the 12 videos of the label set"
    assert all(r.not_evaluated.endswith(reason.split(": ", 1)[1]) for r in results)
    assert md.count(reason) >= 4 and "100.0 ± 0.0" not in md
    assert (cm["note"] == "").all()  # one class is enough for retrieval


def test_a_label_set_emptied_by_min_count_is_reported_not_scored(tmp_path):
    ids = [f"v{i:02d}" for i in range(9)]
    sheet = tmp_path / "videos.tsv"
    pd.DataFrame(
        {
            "video_id": ids,
            "video": [f"{v}.mp4" for v in ids],
            "label": np.array(["a", "b", "c"])[np.arange(9) % 3],
        }
    ).to_csv(sheet, sep="\t", index=False)
    labels_tsv = tmp_path / "labels" / "rare.tsv"
    out = make_label_set(str(sheet), {"from": "label", "min_count": 5}, str(labels_tsv))
    assert len(out) == 0 and labels_tsv.exists()
    feat_dir = _stores(tmp_path, ids)
    results, cm, md, _ = _run_jobs(tmp_path, feat_dir, labels_tsv, "rare")
    for r in results:
        assert "the label set has no videos" in r.not_evaluated, r.name
    # retrieval needs no labels: it still runs over every video both stores hold (issue 33)
    assert (cm["note"].fillna("") == "").all() and (cm["n"] == len(ids)).all()
    assert "## Not evaluated" in md and "the label set has no videos" in md


def test_too_few_videos_for_two_folds_is_reported(tmp_path):
    """Three labelled videos in three classes: no class has two videos."""
    ids = ["x", "y", "z"]
    labels_tsv = tmp_path / "tiny.tsv"
    pd.DataFrame({"video_id": ids, "label": ["a", "b", "c"]}).to_csv(
        labels_tsv, sep="\t", index=False
    )
    feat_dir = _stores(tmp_path, ids)
    results, cm, md, _ = _run_jobs(tmp_path, feat_dir, labels_tsv, "tiny")
    assert all("smallest class has 1 video" in r.not_evaluated for r in results[:4])
    assert "not evaluated" in cm["note"].iloc[0]


def test_not_evaluated_result_round_trips_and_summarises(tmp_path):
    r = CVResult.skipped(
        "not evaluated: 1 class among the 64 covered videos",
        feature_set="ad:mean",
        classifier="logreg",
        label_set="youtube",
        modality="text",
    )
    r.to_h5(tmp_path / "r.h5")
    back = CVResult.from_h5(tmp_path / "r.h5")
    assert not back.evaluated and back.not_evaluated == r.not_evaluated
    s = back.summary()
    assert s["not_evaluated"] == r.not_evaluated and np.isnan(s["accuracy_mean"])
    assert len(back.folds) == 0


@pytest.mark.slow
def test_workflow_reports_a_one_class_label_set_and_exits_0(tmp_path):
    """Through Snakemake (text extractor only): a label set merged into one class ends with
    "not evaluated" rows and exit 0, beside a scored label set; `snakemake --report` holds
    both summaries as HTML tables, not Markdown; editing learn/classify.py reruns classification."""
    import base64
    import re

    import yaml

    from tests.workflow_project import make_project, planned_jobs, small_sheet, snakemake

    extractors = {
        "text_desc": {
            "kind": "text_raw",
            "modality": "text",
            "model": None,
            "params": {"sources": ["description"]},
        }
    }
    wd = make_project(
        tmp_path / "p",
        small_sheet(per_label=3, extra_ids=()),
        extractors=extractors,
        feature_sets=("text_desc:text",),
        copy_workflow=True,
    )
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    merge = dict.fromkeys(("animals", "instrument", "misc", "toys"), "all")
    cfg["labels"]["sets"]["merged"] = {"from": "label", "min_count": 2, "merge": merge}
    cfg["classify"]["label_sets"] = ["youtube", "merged"]
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(wd)  # raises unless exit 0 (no --keep-going)
    assert proc.returncode == 0
    merged = (wd / "results/report/merged/summary.md").read_text()
    assert "not evaluated: 1 class among the 12 videos of the label set" in merged
    youtube = pd.read_csv(wd / "results/report/youtube/summary.csv")
    assert youtube["not_evaluated"].isna().all() and youtube["balanced_accuracy_mean"].notna().all()
    snakemake(wd, "--report", str(wd / "report.html"))
    html = (wd / "report.html").read_text()
    pages = [
        base64.b64decode(m).decode()
        for m in re.findall(r"data:text/html;[^,]*base64,([A-Za-z0-9+/=]+)", html)
    ]
    summaries = [p for p in pages if "<h1>Results: label set" in p]
    assert len(summaries) == 2
    for page in summaries:
        assert page.count("<table") == 2 and "|---" not in page

    assert planned_jobs(wd) == {}  # nothing left to do
    # editing the classification code reruns classification and the reports, not extraction
    src = wd / "wf" / "src" / "trimodal" / "learn" / "classify.py"
    src.write_text(src.read_text() + "\n# an edit\n")
    jobs_planned = planned_jobs(wd)
    assert jobs_planned.get("classify") == 2 and jobs_planned.get("report") == 2
    assert not {r for r in jobs_planned if r.startswith(("extract", "probe", "store", "labels"))}
