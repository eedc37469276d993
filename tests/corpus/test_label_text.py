"""Labels as the user wrote them: one class per NFC spelling, drawn by the report as plain text
(issue 24: `$^$` stopped the report with a mathtext error, `$5-$10` was typeset as maths)."""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

from trimodal.corpus.sheet import load_sheet
from trimodal.learn.classify import run_cv
from trimodal.report.summary import confusion_figure, plain, write_report

ODD = ["$^$", "$5-$10", "Música", "a_b^c"]


def _result(labels, n_per=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(labels, n_per).astype(object)
    ids = np.array([f"v{i:02d}" for i in range(len(y))], dtype=object)
    X = rng.normal(size=(len(y), 5)) + np.repeat(np.arange(len(labels)), n_per)[:, None]
    return run_cv(X, y, ids, "logreg", 2, feature_set="x:mean", label_set="odd")


def test_labels_with_dollars_and_accents_are_drawn_as_written(tmp_path):
    result = _result(ODD)
    fig = confusion_figure(result)
    fig.canvas.draw()  # mathtext would raise here (ParseSyntaxException) on "$^$"
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == [plain(c) for c in sorted(ODD)]
    # what is rendered: the escaped dollar is a literal "$", never maths
    renderer = fig.canvas.get_renderer()
    for t in fig.axes[0].get_xticklabels():
        if "$" in t.get_text():
            assert not t._preprocess_math(t.get_text())[1]  # not in math mode
    paths = write_report([result], tmp_path, "odd")
    md = paths["markdown"].read_text()
    assert "$^$" in md and "$5-$10" in md and "Música" in md
    assert renderer is not None


def test_plain_escapes_every_dollar():
    assert plain("$5-$10") == r"\$5-\$10"
    assert plain("no dollars") == "no dollars"


def test_composed_and_decomposed_labels_are_one_class(tmp_path):
    nfc, nfd = unicodedata.normalize("NFC", "Música"), unicodedata.normalize("NFD", "Música")
    assert nfc != nfd
    sheet = tmp_path / "videos.tsv"
    pd.DataFrame(
        {
            "video_id": ["a", "b", "c"],
            "video": ["x.mp4"] * 3,
            "description": ["", "", ""],
            "label": [nfc, f"  {nfd} ", "Sport"],
        }
    ).to_csv(sheet, sep="\t", index=False)
    df = load_sheet(sheet, check_files=False)
    assert list(df["label"]) == [nfc, nfc, "Sport"]
    assert df["label"].nunique() == 2
