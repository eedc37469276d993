"""The split protocol (classify.cv.protocol / crossmodal.protocol: split): fit on the sheet's
train videos, early-stop on its val videos where a learner early-stops, score once on test;
results and the report name the protocol of every number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from trimodal.crossmodal.evaluate import crossmodal_cv, crossmodal_table
from trimodal.crossmodal.methods import CROSSMODAL_METHODS, register_crossmodal_method
from trimodal.fusion.evaluate import late_fusion_from_results
from trimodal.learn.classify import run_cv
from trimodal.learn.cv import TRAIN, UNUSED, VAL, NotEvaluated, label_set_folds, protocol_folds
from trimodal.learn.results import CVResult
from trimodal.learn.training import uses_validation, validation_split
from trimodal.report.summary import results_table
from trimodal.stages.config_check import sheet_problems


def label_set(n_train=30, n_val=10, n_test=12, n_none=3, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    splits = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test + [""] * n_none
    n = len(splits)
    return pd.DataFrame(
        {
            "video_id": [f"v{i:03d}" for i in range(n)],
            "label": rng.permutation(np.resize(["a", "b", "c"], n)),
            "split": splits,
        }
    )


def features(labels: pd.DataFrame, seed=0):
    rng = np.random.default_rng(seed)
    y = labels["label"].to_numpy(dtype=object)
    onehot = (y[:, None] == np.array(["a", "b", "c"])).astype(float)
    X = np.hstack([3.0 * onehot, rng.normal(size=(len(y), 5))]) + rng.normal(size=(len(y), 8))
    return X, y, labels["video_id"].to_numpy()


def test_split_folds_code_every_video_and_train_only_on_train():
    labels = label_set()
    fset = label_set_folds(labels, "split", seed=3)
    assert fset.protocol == "split" and fset.n_folds == 1 and fset.folds_requested == 1
    codes = dict(zip(labels["split"], fset.of(labels["video_id"]), strict=False))
    assert codes == {"train": TRAIN, "val": VAL, "test": 0, "": UNUSED}
    ((f, tr, te),) = fset.splits(labels["video_id"], labels["label"])
    assert f == 0
    assert set(labels["split"].iloc[tr]) == {"train"} and len(tr) == 30
    assert set(labels["split"].iloc[te]) == {"test"} and len(te) == 12
    assert list(labels["split"].iloc[fset.val_rows(labels["video_id"])]) == ["val"] * 10
    assert "official split: 30 train, 10 val, 12 test, 3 without a split" in fset.note
    assert protocol_folds({"protocol": "split", "folds": 7}) == "split"
    assert protocol_folds({"folds": 7}) == 7


def test_split_without_train_or_column_is_not_evaluated():
    labels = label_set(n_train=0)
    fset = label_set_folds(labels, "split")
    with pytest.raises(NotEvaluated, match="train videos of the split hold no video"):
        fset.splits(labels["video_id"], labels["label"])
    with pytest.raises(NotEvaluated, match="needs a split column"):
        label_set_folds(labels.drop(columns="split"), "split")


class EarlyStopper(ClassifierMixin, BaseEstimator):
    """Records which rows it trained and validated on (as the real early-stoppers take them)."""

    early_stops = True

    def fit(self, X, y):
        self.train_, self.val_ = validation_split(len(y), lambda: (np.arange(len(y)), []))
        self.n_fit_ = len(y)
        self.inner_ = DummyClassifier().fit(X[self.train_], np.asarray(y)[self.train_])
        self.classes_ = self.inner_.classes_
        return self

    def predict(self, X):
        return self.inner_.predict(X)

    def predict_proba(self, X):
        return self.inner_.predict_proba(X)


def test_run_cv_fits_on_train_stops_on_val_and_scores_test_only(tmp_path):
    labels = label_set()
    X, y, ids = features(labels)
    fset = label_set_folds(labels, "split")
    result = run_cv(X, y, ids, "logreg", folds=fset)
    test_ids = set(labels.loc[labels["split"] == "test", "video_id"])
    assert result.protocol == "split" and result.n_folds == 1
    assert set(result.ids) == test_ids and (result.fold == 0).all()
    assert result.scores["accuracy"].shape == (1,)
    assert result.summary()["protocol"] == "split"
    result.to_h5(tmp_path / "r.h5")
    assert CVResult.from_h5(tmp_path / "r.h5").protocol == "split"

    # an early-stopping learner (also behind a pipeline) gets train + val, told which is which
    est = make_pipeline(StandardScaler(), EarlyStopper())
    assert uses_validation(est) and not uses_validation(make_pipeline(DummyClassifier()))
    fitted = []
    orig_fit = EarlyStopper.fit

    def spy(self, X, y):
        orig_fit(self, X, y)
        fitted.append(self)
        return self

    EarlyStopper.fit = spy
    try:
        run_cv(X, y, ids, est, folds=fset)
    finally:
        EarlyStopper.fit = orig_fit
    (model,) = fitted
    assert model.n_fit_ == 40 and len(model.train_) == 30 and len(model.val_) == 10
    # outside the split protocol the learner takes its own split
    assert validation_split(5, lambda: ("own", "split")) == ("own", "split")


def test_report_and_late_fusion_name_the_protocol():
    labels = label_set()
    X, y, ids = features(labels)
    split = run_cv(X, y, ids, "logreg", folds=label_set_folds(labels, "split"))
    kfold = run_cv(X, y, ids, "logreg", folds=label_set_folds(labels, 3))
    table = results_table([split, kfold])
    assert set(table["protocol"]) == {"official split (train → test)", "3-fold CV"}
    stack = late_fusion_from_results([split, split], method="stack")
    assert not stack.evaluated and "under the split protocol" in stack.not_evaluated
    assert stack.protocol == "split"
    # mean and vote fit nothing: they combine the base models' test predictions (issue 33)
    for method in ("mean", "vote"):
        late = late_fusion_from_results([split, split], method=method)
        assert late.evaluated and late.protocol == "split" and late.n_folds == 1, method
        assert set(late.ids) == set(split.ids) and set(late.fold) == {0}
        order = {v: i for i, v in enumerate(split.ids)}
        same = [split.y_pred[order[v]] for v in late.ids]
        assert list(late.y_pred) == same, method  # two copies of one model: its predictions
    assert set(results_table([late])["protocol"]) == {"official split (train → test)"}


def test_crossmodal_split_retrieves_over_the_test_videos_and_early_stops_on_val():
    labels = label_set(n_train=40, n_val=10, n_test=20, n_none=0)
    rng = np.random.default_rng(1)
    Xs = rng.normal(size=(len(labels), 6))
    Xt = Xs @ rng.normal(size=(6, 4)) + 0.05 * rng.normal(size=(len(labels), 4))
    fset = label_set_folds(labels, "split", min_classes=1)
    seen = {}

    def toy(Xs_tr, Xt_tr, Xs_te, Xt_te, loss, seed, kw):
        tr, va = validation_split(len(Xs_tr), lambda: (np.arange(len(Xs_tr)), np.array([])))
        seen.update(n_fit=len(Xs_tr), n_train=len(tr), n_val=len(va), n_test=len(Xs_te))
        W = np.linalg.lstsq(Xs_tr[tr], Xt_tr[tr], rcond=None)[0]
        return Xs_te @ W, Xt_te, {}

    register_crossmodal_method("toy_early", toy, early_stops=True)
    try:
        out = crossmodal_cv(Xs, Xt, labels["video_id"], "toy_early", folds=fset)
    finally:
        CROSSMODAL_METHODS.pop("toy_early")
    # mapped: the 40 train videos (the hubness corrections' bank) and the 20 test videos
    assert seen == {"n_fit": 50, "n_train": 40, "n_val": 10, "n_test": 40 + 20}
    assert out["protocol"] == "split" and out["folds"] == 1 and out["n_test"] == 20
    assert out["R@1"] > 0.9 and out["chance_R@1"] == pytest.approx(1 / 20)
    ridge = crossmodal_cv(Xs, Xt, labels["video_id"], "ridge", folds=fset)
    row = {"source": "a:mean", "target": "b:mean", **ridge, "note": ""}
    table = crossmodal_table(pd.DataFrame([row]))
    assert table.loc[0, "protocol"] == "official split, 20 test videos"
    assert "R@5" in table.columns


def test_sheet_problems_of_the_split_protocol_and_language_column():
    cfg = {
        "classify": {"cv": {"protocol": "split"}},
        "crossmodal": {"protocol": "split"},
        "labels": {"sets": {"en": {"language": {"column": "lang", "keep": ["en"]}}}},
    }
    no_split = pd.DataFrame({"video_id": ["a"], "video": ["a.mp4"], "description_flag": [""]})
    problems = sheet_problems(cfg, no_split)
    assert len(problems) == 3
    assert problems[0].startswith("classify.cv.protocol: split needs a split column")
    assert problems[1].startswith("crossmodal.protocol: split needs a split column")
    assert "labels.sets.en.language.column: 'lang' is not a column" in problems[2]
    only_train = no_split.assign(split=["train"], lang=["en"])
    (problem, _) = sheet_problems(cfg, only_train)
    assert "it has no test rows (train: 1)" in problem
    ok = pd.concat([only_train, only_train.assign(split="test")])
    assert sheet_problems(cfg, ok) == []


def test_intermediate_fusion_net_early_stops_on_the_val_videos(monkeypatch):
    import trimodal.fusion.net as fusion_net

    labels = label_set()
    X, y, ids = features(labels)
    got = []

    def spy(n, inner):
        got.append(validation_split(n, inner))
        return got[-1]

    monkeypatch.setattr(fusion_net, "validation_split", spy)
    est = fusion_net.IntermediateFusionClassifier(
        block_slices={"a": (0, 4), "b": (4, 8)}, max_epochs=3, seed=0
    )
    result = run_cv(X, y, ids, est, folds=label_set_folds(labels, "split"))
    ((train, val),) = got
    assert len(train) == 30 and len(val) == 10 and len(result.ids) == 12


def test_stages_from_sheet_to_report_under_the_split_protocol(tmp_path):
    """The way the workflow runs them: a sheet with split and language columns -> label set
    (English only, split kept) -> classify, fusion, cross-modal and the report, all on the
    official split."""
    from tests.learn.test_cv import write_store
    from trimodal.stages.classify import classify_one
    from trimodal.stages.crossmodal import crossmodal_pair
    from trimodal.stages.fuse import fuse_one
    from trimodal.stages.labels import make_label_set
    from trimodal.stages.report import make_report

    labels = label_set(n_train=36, n_val=9, n_test=15, n_none=0)
    labels["language"] = ["fr" if i % 10 == 9 else "en" for i in range(len(labels))]
    (tmp_path / "v.mp4").write_bytes(b"x")
    sheet = labels.assign(video="v.mp4", description="", ad_audio="")
    sheet.to_csv(tmp_path / "videos.tsv", sep="\t", index=False)
    labels_tsv = tmp_path / "labels" / "en.tsv"
    spec = {"from": "label", "min_count": 1, "language": {"column": "language", "keep": ["en"]}}
    made = make_label_set(str(tmp_path / "videos.tsv"), spec, str(labels_tsv))
    assert set(made["video_id"]) == set(labels.loc[labels["language"] == "en", "video_id"])
    assert "split" in made.columns
    X, _, ids = features(labels)
    feat_dir = tmp_path / "features"
    write_store(feat_dir, tmp_path, "aud", "audio", list(ids), X=X[:, :6])
    write_store(feat_dir, tmp_path, "vid", "video", list(ids), X=X[:, 4:])
    cv = {"protocol": "split", "folds": 5, "seed": 0}
    outs = []
    for s in ("aud", "vid"):
        out = tmp_path / "classify" / f"{s}.h5"
        r = classify_one(
            store_path=str(feat_dir / f"{s}.h5"),
            pooling="mean",
            labels_tsv=str(labels_tsv),
            label_set="en",
            classifier="logreg",
            cv=cv,
            options={},
            output=str(out),
        )
        assert r.evaluated and r.protocol == "split"
        assert set(r.ids) == set(made.loc[made["split"] == "test", "video_id"])
        outs.append(out)
    for kind in ("early", "intermediate", "late-mean"):
        out = tmp_path / "fusion" / f"{kind}.h5"
        r = fuse_one(
            kind=kind,
            feature_sets=["aud:mean", "vid:mean"],
            labels_tsv=str(labels_tsv),
            label_set="en",
            features_dir=str(feat_dir),
            classifier="logreg",
            cv=cv,
            options={"max_epochs": 5, "device": "cpu"} if kind == "intermediate" else {},
            base_results=[str(o) for o in outs],
            output=str(out),
        )
        assert r.protocol == "split" and r.evaluated, (kind, r.not_evaluated)
        outs.append(out)
    cm_out = tmp_path / "crossmodal" / "aud.mean__vid.mean.tsv"
    cm_out.parent.mkdir(parents=True)
    cm_spec = {"pairs": [{"source": "aud:mean", "target": "vid:mean"}], "methods": ["ridge"]}
    cm = crossmodal_pair(
        {**cm_spec, "protocol": "split"}, str(labels_tsv), str(feat_dir), str(cm_out)
    )
    assert cm.loc[0, "protocol"] == "split" and cm.loc[0, "n_test"] == r_test(made)
    make_report([str(o) for o in outs], str(tmp_path / "report"), "en")
    md = (tmp_path / "report" / "en" / "summary.md").read_text()
    assert md.count("official split (train → test)") == 5
    assert "scored once on its test videos" in md


def r_test(made: pd.DataFrame) -> int:
    return int((made["split"] == "test").sum())
