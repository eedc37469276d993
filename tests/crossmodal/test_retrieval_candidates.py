"""Retrieval over every video both stores hold, labelled or not (issue 33): the folds of the
candidates (trimodal.crossmodal.evaluate.candidate_folds) and label agreement where labels
exist."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trimodal.crossmodal.evaluate import candidate_folds, run_pairs
from trimodal.crossmodal.retrieval import metrics_from_similarity
from trimodal.learn.cv import TRAIN, UNUSED, label_set_folds


def test_labelled_videos_keep_their_label_set_fold_and_the_others_join_in():
    ids = [f"v{i:02d}" for i in range(30)]
    labels = pd.DataFrame({"video_id": ids[:20], "label": ["a", "b"] * 10,
                           "group": [f"g{i}" for i in range(20)]})  # fmt: skip
    videos = pd.DataFrame({"video_id": ids, "group": [f"g{i}" for i in range(20)]
                           + ["g3", "g3"] + [f"h{i}" for i in range(8)]})  # fmt: skip
    fset, lab, groups = candidate_folds(ids, videos, labels, 3, seed=0)
    ref = label_set_folds(labels, 3, 0, min_classes=1).fold
    fold = fset.fold
    assert (fold[ids[:20]].to_numpy() == ref[ids[:20]].to_numpy()).all()  # as classifiers
    assert fold["v20"] == fold["v21"] == ref["v03"]  # a clip of a labelled video's group
    assert set(fold[ids[22:]]) <= {0, 1, 2} and len(set(fold[ids[22:]])) > 1
    assert list(lab[20:]) == [""] * 10 and groups is not None


def test_split_protocol_from_the_sheet_without_any_label():
    ids = ["a", "b", "c", "d", "e"]
    videos = pd.DataFrame({"video_id": ids, "split": ["train", "train", "test", "test", ""]})
    fset, lab, _ = candidate_folds(ids, videos, None, "split")
    assert list(fset.of(ids)) == [TRAIN, TRAIN, 0, 0, UNUSED] and set(lab) == {""}


def test_label_agreement_only_where_labels_exist():
    S = np.eye(4) + 0.1
    S[0] = [0.5, 1.0, 0.0, 0.0]  # query 0 retrieves item 1 first, its own second
    m = metrics_from_similarity(S, ["x", "x", "", "y"])
    # queries 0 (top item 1, "x" = "x") and 1 (itself) count; 2 is unlabelled; 3 itself
    assert m["label_agreement"] == pytest.approx(1.0)
    assert m["chance_label_agreement"] == pytest.approx((2 / 3) ** 2 + (1 / 3) ** 2)
    assert np.isnan(metrics_from_similarity(S, ["", "", "", ""])["label_agreement"])
    assert m["mean_rank"] == pytest.approx((2 + 1 + 1 + 1) / 4)


def test_unlabelled_videos_are_queries_and_candidates(tmp_path):
    from tests.crossmodal.test_crossmodal import _pair, _write_store

    Xs, Xt = _pair("linear", n=60)
    ids = np.array([f"v{i:03d}" for i in range(60)], dtype=object)
    _write_store(tmp_path / "aud.h5", ids, Xs)
    _write_store(tmp_path / "txt.h5", ids, Xt)
    labels = pd.DataFrame({"video_id": ids[:30], "label": ["a", "b"] * 15})
    cfg = {"pairs": [{"source": "aud:mean", "target": "txt:mean"}], "methods": ["ridge"],
           "folds": 3}  # fmt: skip
    df, folds = run_pairs(cfg, tmp_path, labels, with_folds=True)
    assert df.loc[0, "n"] == 60 and len(folds) == 60  # all 60, not the 30 labelled
    assert np.isfinite(df.loc[0, "chance_label_agreement"])
