"""Hubness-aware retrieval (trimodal.crossmodal.retrieval.corrected_similarity): the corrections read the
training side only, and on a corpus built to have hubs they raise diversity and R@1."""

from __future__ import annotations

import numpy as np
import pytest

from trimodal.crossmodal.evaluate import crossmodal_cv
from trimodal.crossmodal.retrieval import (
    RANKINGS,
    corrected_similarity,
    k_occurrence,
    metrics_from_similarity,
)


def hub_corpus(n_train=200, n_test=100, d=32, seed=0):
    """Targets with a few 'hub' items that lean along one direction h, and predicted queries
    that all carry that direction too (a mapping biased toward the mean): under plain cosine
    the hubs are everybody's nearest item."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=d)
    h /= np.linalg.norm(h)

    def side(n):
        T = rng.normal(size=(n, d))
        hubs = rng.random(n) < 0.1
        T[hubs] += 6.0 * h
        Q = T + rng.normal(scale=1.5, size=(n, d)) + 4.0 * h
        return Q, T

    bank_Q, bank_K = side(n_train)
    Q, K = side(n_test)
    return Q, K, bank_Q, bank_K


@pytest.mark.parametrize("ranking", RANKINGS)
def test_shuffling_the_test_queries_leaves_each_querys_ranking_unchanged(ranking):
    Q, K, bQ, bK = hub_corpus()
    S = corrected_similarity(Q, K, bQ, bK, ranking)
    perm = np.random.default_rng(1).permutation(len(Q))
    S_perm = corrected_similarity(Q[perm], K, bQ, bK, ranking)
    np.testing.assert_allclose(S_perm, S[perm], atol=1e-12)
    # and dropping half of the test queries changes nothing for the others
    np.testing.assert_allclose(corrected_similarity(Q[:50], K, bQ, bK, ranking), S[:50])


@pytest.mark.parametrize("ranking", ["csls", "qbnorm", "isoftmax"])
def test_corrections_read_the_training_bank(ranking):
    Q, K, bQ, bK = hub_corpus()
    S = corrected_similarity(Q, K, bQ, bK, ranking)
    other = corrected_similarity(Q, K, bQ[:20] * -1, bK[:20] * -1, ranking)
    assert not np.allclose(S, other)  # the bank is used ...
    with pytest.raises(ValueError, match="training side"):
        corrected_similarity(Q, K, None, None, ranking)  # ... and required


def test_corrections_raise_diversity_and_r1_on_a_hub_corpus():
    Q, K, bQ, bK = hub_corpus()
    m = {r: metrics_from_similarity(corrected_similarity(Q, K, bQ, bK, r)) for r in RANKINGS}
    plain = m["cosine"]
    assert plain["n10_skew"] > 1.0  # the corpus has hubs
    for r in ("csls", "qbnorm", "isoftmax"):
        assert m[r]["diversity"] > plain["diversity"] + 0.05, (r, m[r]["diversity"])
        assert m[r]["R@1"] > plain["R@1"], (r, m[r]["R@1"], plain["R@1"])
        assert m[r]["n10_skew"] < plain["n10_skew"], r


def test_k_occurrence_and_never_retrieved():
    S = np.array([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.8, 0.0, 0.1]])
    np.testing.assert_array_equal(k_occurrence(S, 1), [3, 0, 0])
    m = metrics_from_similarity(S)
    assert m["never_retrieved"] == pytest.approx(0.0)  # k = n - 1 = 2: every item in some top-2
    assert m["n10_skew"] == pytest.approx(0.0) and "chance_n10_skew" in m  # N_2 = 3, 2, 1


def test_crossmodal_cv_scores_every_ranking_on_one_fit():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(60, 8))
    Xt = Xs @ rng.normal(size=(8, 6)) + 0.5 * rng.normal(size=(60, 6))
    out = crossmodal_cv(Xs, Xt, None, "ridge", folds=3, rankings=("cosine", "csls", "qbnorm"))
    assert set(out["by_ranking"]) == {"cosine", "csls", "qbnorm"}
    assert out["ranking"] == "cosine" and out["R@1"] == out["by_ranking"]["cosine"]["R@1"]
    for r in out["by_ranking"].values():
        assert r["R@1"] > r["chance_R@1"] and "n10_skew" in r and "never_retrieved" in r


def test_auto_mapping_is_chosen_inside_the_training_folds():
    from trimodal.crossmodal.methods import CROSSMODAL_METHODS, register_crossmodal_method

    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(60, 8))
    Xt = Xs @ rng.normal(size=(8, 6)) + 0.3 * rng.normal(size=(60, 6))
    seen = []

    def spy(Xs_tr, Xt_tr, Xs_te, Xt_te, loss, seed, kw):  # a useless candidate that records
        seen.append({tuple(r) for r in Xs_tr})
        return rng.normal(size=(len(Xs_te), 3)), rng.normal(size=(len(Xs_te), 3)), {}

    register_crossmodal_method("spy", spy)
    try:
        out = crossmodal_cv(Xs, Xt, None, "auto", folds=3, candidates=["spy", "ridge"])
    finally:
        del CROSSMODAL_METHODS["spy"]
    chose = [f["fit_chose"] for f in out["per_fold"]]
    assert chose == ["ridge"] * 3  # the linear map wins the inner CV over noise
    assert out["R@1"] > 3 * out["chance_R@1"]
    test_rows = [{tuple(Xs[i]) for i in np.flatnonzero(out["fold"] == f)} for f in range(3)]
    # 3 inner fits per outer fold, each on training rows of that outer fold only
    assert len(seen) == 9
    for j, rows in enumerate(seen):
        assert rows.isdisjoint(test_rows[j // 3])


def test_contrastive_temperature_is_learnt():
    from trimodal.crossmodal.methods import fit_neural

    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(80, 8))
    Xt = np.tanh(Xs @ rng.normal(size=(8, 6)))
    _, info = fit_neural(Xs, Xt, "mlp", "contrastive", temperature="learn", max_epochs=30)
    assert 0.01 <= info["temperature"] <= 1.0 and info["temperature"] != pytest.approx(0.07)


def test_report_has_a_row_per_ranking_what_was_selected_and_the_hubness_figure(tmp_path):
    from pathlib import Path

    from tests.crossmodal.test_crossmodal import _pair, _write_store
    from trimodal.crossmodal.evaluate import run_pairs
    from trimodal.stages.crossmodal import crossmodal_summary

    Xs, Xt = _pair("linear", n=60)
    ids = np.array([f"v{i:03d}" for i in range(60)], dtype=object)
    _write_store(tmp_path / "aud.h5", ids, Xs)
    _write_store(tmp_path / "txt.h5", ids, Xt)
    cfg = {
        "pairs": [{"source": "aud:mean", "target": "txt:mean"}],
        "methods": ["ridge", "auto"],
        "rankings": ["cosine", "csls", "qbnorm"],
        "params": {"auto": {"candidates": ["ridge", "cca"]}},
        "folds": 3,
    }
    df = run_pairs(cfg, tmp_path, None)
    assert list(zip(df["method"], df["ranking"], strict=True)) == [
        (m, r) for m in ("ridge", "auto") for r in ("cosine", "csls", "qbnorm")
    ]
    assert df["selected"].str.contains("alpha=").all()
    assert df[df["method"] == "auto"]["selected"].str.contains("chose=").all()
    df.to_csv(tmp_path / "pair.tsv", sep="\t", index=False)
    names = {"table": "crossmodal.md", "csv": "crossmodal.csv", "heatmap": "heatmap.png",
             "hubness": "hubness.png"}  # fmt: skip
    out = {k: str(tmp_path / "rep" / f) for k, f in names.items()}
    crossmodal_summary([str(tmp_path / "pair.tsv")], out)
    md = Path(out["table"]).read_text()
    assert "## Hubness" in md and "| csls |" in md and "n10_skew" in md
    assert Path(out["hubness"]).stat().st_size > 5000
