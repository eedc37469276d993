"""Report: the table holds exactly the computed numbers, the verdict follows them, figures."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from trimodal.fusion.evaluate import block_slices, early_fusion_matrix, early_fusion_pipeline
from trimodal.learn.classify import run_cv
from trimodal.report.summary import (
    LEAKAGE_NOTE,
    best_by_group,
    confusion_figure,
    fusion_gap,
    fusion_verdict,
    print_summary,
    provenance_table,
    results_table,
    write_report,
)


def three_modalities(n=160, seed=0):
    """Signal split over three blocks (as in test_fusion): fusion should help."""
    X, yi = make_classification(
        n_samples=n,
        n_features=21,
        n_informative=9,
        n_redundant=0,
        n_classes=4,
        n_clusters_per_class=1,
        class_sep=1.6,
        shuffle=False,
        random_state=seed,
    )
    y = np.array(["a", "b", "c", "d"], dtype=object)[yi]
    ids = np.array([f"v{i:03d}" for i in range(n)], dtype=object)
    cols = {"text": np.r_[0:3, 9:13], "audio": np.r_[3:6, 13:17], "video": np.r_[6:9, 17:21]}
    return {m: (X[:, c], ids) for m, c in cols.items()}, y, ids


@pytest.fixture(scope="module")
def results():
    blocks, y, ids = three_modalities(n=160)
    out = [
        run_cv(
            X,
            y,
            ids,
            clf,
            folds=4,
            seed=0,
            feature_set=f"{m}_emb:mean",
            modality=m,
            label_set="toy",
        )
        for m, (X, _) in blocks.items()
        for clf in ("logreg", "gaussian_nb")
    ]
    X, fids = early_fusion_matrix(blocks)
    out.append(
        run_cv(
            X,
            y,
            fids,
            early_fusion_pipeline("logreg", block_slices(blocks)),
            folds=4,
            seed=0,
            feature_set="+".join(blocks),
            kind="early",
            label_set="toy",
            modality="text+audio+video",
            classifier_name="logreg",
        )
    )
    return out


def _parse_pm(cell: str) -> tuple[float, float]:
    m, s = re.fullmatch(r"([0-9.]+) ± ([0-9.]+)", cell).groups()
    return float(m), float(s)


def test_table_holds_exactly_the_computed_numbers(results):
    table = results_table(results)
    assert len(table) == len(results)
    by_key = {(r.feature_set, r.classifier): r.summary() for r in results}
    for _, row in table.iterrows():
        s = by_key[(row["feature set"], row["classifier"])]
        for col, key in (
            ("accuracy (%)", "accuracy"),
            ("balanced accuracy (%)", "balanced_accuracy"),
            ("macro-F1 (%)", "macro_f1"),
        ):
            mean, std = _parse_pm(row[col])
            assert mean == pytest.approx(100 * s[f"{key}_mean"], abs=0.05)
            assert std == pytest.approx(100 * s[f"{key}_std"], abs=0.05)
        assert float(row["majority acc. (%)"]) == pytest.approx(
            100 * s["baseline_accuracy_mean"], abs=0.05
        )
        assert row["n videos"] == s["n_videos"] == 160 and row["n folds"] == 4
    assert table.iloc[0]["kind"] == "single" and table.iloc[-1]["kind"] == "early"


def _summary(kind, ba, std=0.01, name="x", modality="audio"):
    return {
        "kind": kind,
        "modality": modality,
        "feature_set": name,
        "classifier": "logreg",
        "balanced_accuracy_mean": ba,
        "balanced_accuracy_std": std,
    }


@pytest.mark.parametrize("single,fused", [(0.50, 0.62), (0.62, 0.50), (0.4, 0.4123)])
def test_verdict_matches_the_numbers(single, fused):
    sums = [
        _summary("single", single, name="yamnet:mean"),
        _summary("single", single - 0.1),
        _summary("early", fused, name="a+b", modality="audio+text"),
    ]
    v = fusion_verdict(sums)
    assert fusion_gap(sums).points == pytest.approx(100 * (fused - single))
    assert f"{abs(100 * (fused - single)):.1f} points" in v
    assert "(early)" in v and "yamnet:mean" in v
    if fused > single:
        assert "beats the best single modality" in v and "does not" not in v
    else:
        assert "does not beat" in v and "points below" in v
    assert f"{100 * fused:.1f} %" in v and f"{100 * single:.1f} %" in v


def test_verdict_flags_a_gap_within_the_fold_spread():
    v = fusion_verdict([_summary("single", 0.5, std=0.05), _summary("late-stack", 0.52, std=0.04)])
    assert "within the fold-to-fold spread (5.0 points)" in v
    assert "No fusion verdict" in fusion_verdict([_summary("single", 0.5)])
    assert fusion_gap([_summary("single", 0.5)]) is None


def test_best_by_group(results):
    best = best_by_group(results)
    assert set(best) == {"single:text", "single:audio", "single:video", "fusion:early"}
    for g, r in best.items():
        rivals = [x for x in results if (x.kind == "single" and f"single:{x.modality}" == g)]
        if rivals:
            assert r.summary()["balanced_accuracy_mean"] == max(
                x.summary()["balanced_accuracy_mean"] for x in rivals
            )


def test_confusion_figure_has_class_names_and_title(results):
    import matplotlib.pyplot as plt

    r = results[0]
    fig = confusion_figure(r)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c", "d"]
    assert r.feature_set in ax.get_title() and "balanced accuracy" in ax.get_title()
    ba = 100 * r.summary()["balanced_accuracy_mean"]
    assert f"{ba:.1f}" in ax.get_title()
    # normalised by true class: each row of the displayed matrix sums to 1
    im = ax.images[0].get_array()
    np.testing.assert_allclose(np.asarray(im).sum(axis=1), 1.0)
    plt.close(fig)


def test_write_report(tmp_path, results, capsys):
    paths = write_report(results, tmp_path, "toy")
    root = tmp_path / "toy"
    assert paths["markdown"] == root / "summary.md" and paths["csv"] == root / "summary.csv"
    assert (root / "bars.png").stat().st_size > 1000
    assert set(paths["confusion"]) == {
        "single:text",
        "single:audio",
        "single:video",
        "fusion:early",
    }
    for p in paths["confusion"].values():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = pd.read_csv(root / "summary.csv")
    sums = {(r.feature_set, r.classifier): r.summary() for r in results}
    for _, row in csv.iterrows():
        s = sums[(row["feature_set"], row["classifier"])]
        assert row["balanced_accuracy_mean"] == pytest.approx(
            s["balanced_accuracy_mean"], rel=1e-12
        )
        assert row["baseline_accuracy_mean"] == pytest.approx(
            s["baseline_accuracy_mean"], rel=1e-12
        )
    md = (root / "summary.md").read_text()
    assert paths["verdict"] in md and LEAKAGE_NOTE in md and "confusion/fusion_early.png" in md
    text = print_summary(root)
    assert paths["verdict"] in capsys.readouterr().out and paths["verdict"] in text
    with pytest.raises(ValueError, match="no results"):
        write_report(results, tmp_path, "other")


def test_write_report_reads_h5_paths(tmp_path, results):
    files = []
    for i, r in enumerate(results[:2]):
        r.to_h5(tmp_path / f"r{i}.h5")
        files.append(tmp_path / f"r{i}.h5")
    paths = write_report(files, tmp_path / "rep", "toy")
    assert "No fusion verdict" in paths["verdict"]
    assert len(pd.read_csv(paths["csv"])) == 2


# ----------------------------------------------------------------------------- provenance


def _store(feat_dir, tmp, name, modality, X, ids, y_model, weights=None):
    """A store whose root `provenance` says which model and weights produced it (as
    stages.store writes it); weights None: an older store without that attribute."""
    import json

    from trimodal.extractors.base import Features
    from trimodal.store import features as store

    files = []
    for i, vid in enumerate(ids):
        f = tmp / "pv" / name / f"{vid}.h5"
        h = {"extractor": name, "kind": "x", "modality": modality, "model": y_model, "params": {}}
        store.write_video_file(f, vid, h, features=Features(pooled={"mean": X[i]}))
        files.append(f)
    header = {"extractor": name, "kind": "x", "modality": modality, "model": y_model,
              "params": {"fps": 1.0}}  # fmt: skip
    if weights is not None:
        header["provenance"] = json.dumps(
            {
                "extractor": name,
                "kind": "x",
                "model": y_model,
                "weights_sha256": weights,
                "params": {"fps": 1.0},
                "code": "c0de" * 4,
                "packages": {"numpy": "2"},
            }  # fmt: skip
        )
    store.aggregate(files, feat_dir / f"{name}.h5", header=header)


def _all_results(tmp, feat_dir, labels_tsv, tag):
    from trimodal.learn.results import CVResult
    from trimodal.stages.classify import classify_one
    from trimodal.stages.fuse import fuse_one

    cv, out = {"folds": 3, "seed": 0}, {}
    for s in ("aud", "vid"):
        p = tmp / tag / f"{s}.h5"
        classify_one(store_path=str(feat_dir / f"{s}.h5"), pooling="mean",
                          labels_tsv=str(labels_tsv), label_set="toy",
                          classifier="ovr_linear_svc", cv=cv, options={},
                          output=str(p))  # fmt: skip
        out[f"{s}:mean"] = p
    for kind in ("early", "late-mean"):
        p = tmp / tag / f"{kind.replace(':', '-')}.h5"
        fuse_one(kind=kind, feature_sets=["aud:mean", "vid:mean"],
                      labels_tsv=str(labels_tsv), label_set="toy", features_dir=str(feat_dir),
                      classifier="ovr_linear_svc", cv=cv, options={},
                      base_results=[str(out["aud:mean"]), str(out["vid:mean"])],
                      output=str(p))  # fmt: skip
        out[kind] = p
    return {k: CVResult.from_h5(p) for k, p in out.items()}, out


def test_changing_one_extractors_model_changes_the_provenance_of_exactly_its_rows(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"v{i:02d}" for i in range(30)]
    y = np.array(["a", "b", "c"])[np.arange(30) % 3]
    labels_tsv = tmp_path / "toy.tsv"
    pd.DataFrame({"video_id": ids, "label": y}).to_csv(labels_tsv, sep="\t", index=False)
    feat_dir = tmp_path / "features"
    X = {s: rng.normal(size=(30, 5)) for s in ("aud", "vid")}
    _store(feat_dir, tmp_path, "aud", "audio", X["aud"], ids, "yamnet-a", "aaaa1111bbbb2222")
    _store(feat_dir, tmp_path, "vid", "video", X["vid"], ids, "effnet-b0", "cccc3333dddd4444")
    before, _ = _all_results(tmp_path, feat_dir, labels_tsv, "before")
    assert before["aud:mean"].provenance["aud:mean"]["weights_sha256"] == "aaaa1111bbbb2222"
    assert before["early"].provenance.keys() == {"aud:mean", "vid:mean"}
    assert before["late-mean"].provenance["vid:mean"]["model"] == "effnet-b0"

    # the audio extractor gets another model (same features: only the provenance may change)
    _store(feat_dir, tmp_path, "aud", "audio", X["aud"], ids, "yamnet-b", "eeee5555ffff6666")
    after, paths = _all_results(tmp_path, feat_dir, labels_tsv, "after")
    changed = {k for k in before if before[k].provenance != after[k].provenance}
    assert changed == {"aud:mean", "early", "late-mean"}
    for k in changed:
        assert after[k].provenance["aud:mean"]["model"] == "yamnet-b"
        np.testing.assert_array_equal(after[k].proba, before[k].proba)

    rep = write_report([str(p) for p in paths.values()], tmp_path / "rep", "toy")
    prov = provenance_table(list(after.values()))
    table = results_table(list(after.values()))
    aud = prov[prov["store"] == "aud.h5"].iloc[0]
    assert aud["model"] == "yamnet-b" and aud["weights (sha256)"] == "eeee5555ffff6666"
    rows_using_aud = {int(r["#"]) for _, r in table.iterrows() if "aud" in r["feature set"]}
    assert {int(x) for x in aud["rows"].split(", ")} == rows_using_aud
    csv = pd.read_csv(rep["csv"])
    assert csv["provenance"].str.contains("yamnet-b").sum() == 3
    assert csv["provenance"].str.contains("effnet-b0").sum() == 3


def test_an_older_store_without_provenance_gives_its_model_and_params(tmp_path):
    from trimodal.store.feature_sets import read_provenance

    _store(tmp_path / "f", tmp_path, "old", "audio", np.ones((2, 3)), ["a", "b"], "m1")
    p = read_provenance(tmp_path / "f" / "old.h5")
    assert p["store"] == "old.h5" and p["model"] == "m1" and p["params"] == {"fps": 1.0}
    assert p["weights_sha256"] == "" and p["extractor"] == "old"


def test_html_report_has_real_tables_and_embedded_figures(tmp_path, results):
    from html.parser import HTMLParser

    paths = write_report(results, tmp_path, "toy")
    page = paths["html"].read_text()

    class Tables(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.cells, self.imgs, self._in = 0, [], 0, False

        def handle_starttag(self, tag, attrs):
            self.tables += tag == "table"
            self.imgs += tag == "img" and dict(attrs)["src"].startswith("data:image/png")
            self._in = tag in ("td", "th")

        def handle_data(self, data):
            if self._in:
                self.cells.append(data)

    p = Tables()
    p.feed(page)
    assert p.tables == 2  # results and provenance
    assert p.imgs == 1 + len(paths["confusion"])
    assert "balanced accuracy (%)" in p.cells and "weights (sha256)" in p.cells
    assert not any(c.startswith("|") for c in p.cells) and "|---" not in page
    s = results[0].summary()
    assert _pm_cell(s).replace(" ", "\u00a0") in p.cells  # kept on one line


def _pm_cell(s):
    return f"{100 * s['balanced_accuracy_mean']:.1f} ± {100 * s['balanced_accuracy_std']:.1f}"


def test_rows_of_a_circular_pair_are_marked_and_explained(tmp_path, results):
    write_report(results, tmp_path, "toy", circular=["text_emb"])
    md = (tmp_path / "toy" / "summary.md").read_text()
    marked = [line for line in md.splitlines() if "(circular) |" in line]
    assert len(marked) == 2 and all("text_emb:mean" in line for line in marked)  # 2 classifiers
    assert "how well a classifier recovers the relabelling rule" in md  # the note says why
    assert "late-stack is fully nested" in LEAKAGE_NOTE and LEAKAGE_NOTE in md
