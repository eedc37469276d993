"""The results explorer (issue 35): its data files, and the page in a real headless Chromium
driven by Playwright's Python package (Debian's chromium; Playwright's own browser download is
not used). One browser test builds the explorer from a synthetic results tree written with the
project's writers; the slow one from a small real workflow run, and saves the README's
screenshot."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.explorer_data import CLASSES, EVIL, MODALITIES, synthetic_tree
from trimodal.crossmodal.evaluate import top_retrieved
from trimodal.crossmodal.rankings import read_rankings, write_rankings
from trimodal.report.explorer.build import build_explorer, decode_ints, encode_ints, js_call

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _call_args(text: str, function: str) -> list:
    """The JSON arguments of a data file's single call."""
    assert text.startswith(function + "(") and text.endswith(");\n")
    return json.loads("[" + text[len(function) + 1 : -3] + "]")


# --------------------------------------------------------------------------- data files


def test_js_call_is_inert_in_html_and_round_trips():
    data = {"label": "</script><script>alert(1)</script>", "t": "a\u2028b & <!-- c"}
    text = js_call("EXPLORER.chunk", 3, data)
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert _call_args(text, "EXPLORER.chunk") == [3, data]


def test_small_ints_take_one_character_and_survive_safe_json():
    values = [-1, 0, 1, 12, 14, 44, 300]  # 12, 14 and 44 are "<", ">" and a backslash
    text = encode_ints(values)
    assert len(text) == len(values) and decode_ints(text) == values
    assert decode_ints(_call_args(js_call("f", text), "f")[0]) == values
    assert encode_ints([1, 60000]) == [1, 60000]


def test_top_retrieved_marks_the_true_rank():
    S = np.array([[0.1, 0.9, 0.5], [0.2, 0.8, 0.1], [0.3, 0.4, 0.2]])
    rows = np.array([7, 8, 9])
    q, top, rank = top_retrieved(S, rows, k=5)
    assert q.tolist() == [7, 8, 9]
    assert top.tolist() == [[8, 9, 7, -1, -1], [8, 7, 9, -1, -1], [8, 7, 9, -1, -1]]
    assert rank.tolist() == [3, 1, 3]  # query i's own item i among the fold


def test_rankings_file_round_trips(tmp_path):
    top = np.array([["b", "a"], ["a", ""]], dtype=object)
    key = ("x:mean", "y:mean", "ridge", "mse", "cosine")
    write_rankings(tmp_path / "r.h5", {key: (np.array(["a", "b"]), top, np.array([2, 1]))})
    got = read_rankings(tmp_path / "r.h5")["ridge/mse/cosine"]
    assert got["query"].tolist() == ["a", "b"] and got["rank"].tolist() == [2, 1]
    assert got["top"].tolist() == [["b", "a"], ["a", ""]]


def test_build_writes_predictions_and_chunks(tmp_path):
    tree = synthetic_tree(tmp_path, n=12)
    out = tmp_path / "results" / "explorer"
    info = build_explorer(out, **tree["kwargs"], chunk_size=5)
    assert info["n_chunks"] == 3 and len(list((out / "data").glob("chunk_*.js"))) == 3
    (index,) = _call_args((out / "data" / "index.js").read_text(), "EXPLORER.index")
    ls = index["label_sets"]["youtube"]
    truth = tree["truth"]
    for row in index["results"]:
        if row["kind"] == "single":  # every prediction as the result file has it
            pred = [ls["classes"][p] for p in decode_ints(row["pred"])]
            assert pred == truth["pred"][row["feature_set"]]
    assert [ls["classes"][y] for y in decode_ints(ls["y"])] == truth["y"]
    # the last video's decode failed: no strip
    assert decode_ints(index["thumb"]) == [1] * 11 + [0]
    (c, videos) = _call_args((out / "data" / "chunk_00002.js").read_text(), "EXPLORER.chunk")
    assert c == 2 and list(videos) == truth["ids"][10:]
    assert videos[truth["ids"][-1]]["failures"][0]["reason"] == "bad frame <b>"
    (_, first) = _call_args((out / "data" / "chunk_00000.js").read_text(), "EXPLORER.chunk")
    v1 = first[truth["ids"][1]]
    assert v1["labels"]["youtube"] == EVIL
    assert v1["retrieval"][0] == [2, [0, 1, 2, 3, 4]]  # the previous video first, then itself
    assert first[truth["ids"][0]]["warnings"][0]["stage"] == "partial_decode"
    assert first[truth["ids"][0]]["texts"][0]["title"] == "AD transcript"


# --------------------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make system installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A page of the explorer opened from the file system, recording console errors, page
    errors and failed loads."""

    def __init__(self, browser, index_html: Path):
        self.page = browser.new_page(viewport={"width": 1100, "height": 760})
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.goto(index_html.resolve().as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=15000)

    def listed(self) -> list[str]:
        return self.page.eval_on_selector_all("#list li.video", "els => els.map(e => e.dataset.id)")

    def broken_images(self) -> list[str]:
        """The <img> elements shown that did not load (naturalWidth 0), after all loaded."""
        self.page.wait_for_function("[...document.images].every(i => i.complete)", timeout=15000)
        return self.page.eval_on_selector_all(
            "img", "els => els.filter(i => !(i.naturalWidth > 0)).map(i => i.src)"
        )

    def show(self, value: str) -> list[str]:
        self.page.select_option("#filter", value)
        return self.listed()


def test_page_in_chromium_synthetic(browser, tmp_path):
    tree = synthetic_tree(tmp_path, n=12)
    out = tmp_path / "results" / "explorer"
    build_explorer(out, **tree["kwargs"], chunk_size=5)
    truth = tree["truth"]
    ids, y, right = truth["ids"], truth["y"], truth["right"]
    pg = Page(browser, out / "index.html")
    page = pg.page
    assert pg.listed() == ids
    assert pg.broken_images() == []
    assert page.locator("#list img.thumb").count() == 11  # every strip the data has

    # filters: as the data says
    wrong_all = [v for i, v in enumerate(ids) if not any(right[m][i] for m in MODALITIES)]
    only_text = [
        v for i, v in enumerate(ids)
        if right["text"][i] and not right["audio"][i] and not right["video"][i]
    ]  # fmt: skip
    assert ids[2] in wrong_all and ids[3] in only_text
    assert pg.show("wrong-all") == wrong_all
    assert pg.show("only:text") == only_text
    assert pg.show("all") == ids

    # the confusion of a result row: a cell lists exactly its videos
    page.click("nav .tab[data-view='confusion']")
    page.select_option("#result", label="sbert:mean / ovr_linear_svc")
    pred = truth["pred"]["sbert:mean"]
    classes = page.eval_on_selector_all(
        "#confusion tr:first-child th", "e => e.map(x => x.textContent)"
    )[1:]
    t, p = classes.index(CLASSES[0]), classes.index(CLASSES[1])
    expect = [v for i, v in enumerate(ids) if y[i] == CLASSES[0] and pred[i] == CLASSES[1]]
    assert expect, "the synthetic data has videos in that cell"
    cell = page.locator(f"#confusion td.cell[data-t='{t}'][data-p='{p}']")
    assert cell.inner_text() == str(len(expect))
    cell.click()
    assert page.is_visible("#view-videos") and pg.listed() == expect

    # a <script> label and a markup description show as text; nothing of theirs ran
    page.click("#cell-banner button")
    page.click(f"#list li.video[data-id='{ids[1]}']")
    page.wait_for_selector(f"#detail[data-id='{ids[1]}']")
    assert EVIL in page.inner_text("#detail")
    assert page.locator("#list").get_by_text(EVIL).count() == 1
    assert page.evaluate("window.PWNED") is None
    assert page.locator("#detail script, #list script, #detail b").count() == 0
    page.click(f"#list li.video[data-id='{ids[0]}']")
    page.wait_for_selector(f"#detail[data-id='{ids[0]}']")
    assert "<img src=x onerror" in page.inner_text("#detail .description")
    assert "partial_decode" in page.inner_text("#detail")

    # retrieval: each query's top-k with the true one marked
    page.click("nav .tab[data-view='retrieval']")
    page.wait_for_selector("#queries li.query .items")
    q = page.locator(f"#queries li.query[data-id='{ids[4]}']")
    q.locator(".item.true").wait_for()
    assert q.locator(".item").count() == len(truth["top"][ids[4]])
    assert ids[4] in q.locator(".item.true").inner_text()
    assert pg.broken_images() == []

    # search by id, and in the descriptions' text
    page.click("nav .tab[data-view='videos']")
    page.fill("#search", ids[7])
    assert pg.listed() == [ids[7]]
    page.fill("#search", "thing 5,")
    page.click("#search-text")
    page.wait_for_function("document.querySelectorAll('#list li.video').length === 1")
    assert pg.listed() == [ids[5]]
    assert pg.errors == []


def test_single_file_edition_in_chromium(browser, tmp_path):
    """report.html (what `snakemake --report` embeds): one file, the same page."""
    tree = synthetic_tree(tmp_path, n=12)
    out = tmp_path / "results" / "explorer"
    build_explorer(out, **tree["kwargs"], chunk_size=5, report_html=out / "report.html")
    html = (out / "report.html").read_text()
    assert 'src="' not in html.replace('src="data:image/jpeg;base64,', "")  # nothing to load
    assert "</script><b>" not in html and "window.PWNED=1</script>" not in html
    single = tmp_path / "alone" / "report.html"  # away from the folder: self-contained
    single.parent.mkdir()
    single.write_text(html)
    pg = Page(browser, single)
    ids = tree["truth"]["ids"]
    assert pg.listed() == ids and pg.broken_images() == []
    assert pg.page.locator("#list img.thumb").count() == 11
    pg.page.click(f"#list li.video[data-id='{ids[1]}']")
    pg.page.wait_for_selector(f"#detail[data-id='{ids[1]}'] table.preds")
    assert EVIL in pg.page.inner_text("#detail") and pg.page.evaluate("window.PWNED") is None
    assert pg.errors == []


@pytest.mark.slow
def test_page_in_chromium_from_a_real_run(browser, tmp_path):
    """A small real project (3 videos a class, the demo's extractors at small settings, one
    cross-modal pair): the workflow's explorer target, opened in Chromium."""
    import yaml

    from tests.workflow_project import make_project, small_sheet, snakemake
    from trimodal.learn.results import CVResult

    work = make_project(tmp_path / "p", small_sheet(per_label=3, extra_ids=("bad_truncated",)))
    cfg_path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["crossmodal"] = {
        "label_set": "youtube",
        "folds": 2,
        "methods": ["ridge"],
        "rankings": ["cosine"],
        "pairs": [{"source": "yamnet:mean", "target": "sbert_desc:mean"}],
    }
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(work, timeout=1500)  # the default target includes the explorer
    snakemake(work, "--report", str(work / "report.html"))
    report = (work / "report.html").read_text()
    assert "explorer" in report.lower() and "Explorer" in report
    out = work / "results" / "explorer"
    assert (out / "report.html").read_bytes().count(b"data:image/jpeg;base64,") == 12
    pg = Page(browser, out / "index.html")
    page = pg.page
    sheet = (work / "config" / "videos.tsv").read_text().splitlines()
    assert len(pg.listed()) == len(sheet) - 1
    assert pg.broken_images() == []
    assert page.locator("#list img.thumb").count() == len(sheet) - 2  # bad_truncated: none

    page.click("nav .tab[data-view='confusion']")
    page.select_option("#result", label="effnet:mean / ovr_linear_svc")
    r = CVResult.from_h5(work / "results/classify/youtube/effnet.mean/ovr_linear_svc.h5")
    classes = page.eval_on_selector_all(
        "#confusion tr:first-child th", "e => e.map(x => x.textContent)"
    )[1:]
    pairs = list(zip(r.y_true, r.y_pred, strict=True))
    t, p = next(((a, b) for a, b in pairs if a != b), pairs[0])
    expect = sorted(
        str(v) for v, a, b in zip(r.ids, r.y_true, r.y_pred, strict=True) if (a, b) == (t, p)
    )
    page.click(f"#confusion td.cell[data-t='{classes.index(t)}'][data-p='{classes.index(p)}']")
    assert sorted(pg.listed()) == expect

    page.click("#cell-banner button")
    first = pg.listed()[0]
    page.click(f"#list li.video[data-id='{first}']")
    page.wait_for_selector(
        f"#detail[data-id='{first}'] table.preds tr.right, #detail[data-id='{first}'] table.preds tr.wrong"
    )
    assert "Sounds (yamnet)" in page.inner_text("#detail")
    page.click("nav .tab[data-view='retrieval']")
    page.wait_for_selector("#queries li.query .items")
    assert page.locator("#queries .item.true").count() >= 1
    page.click("nav .tab[data-view='videos']")
    page.select_option("#filter", "wrong-all")
    page.click("#list li.video >> nth=0")
    page.wait_for_selector("#detail table.preds")
    assert pg.broken_images() == []
    assert pg.errors == []
    # the README's picture is refreshed on request (TRIMODAL_README_SCREENSHOT=1), so that a
    # test run does not edit a tracked file
    readme = os.environ.get("TRIMODAL_README_SCREENSHOT") == "1"
    shot = ROOT / "docs" / "img" / "explorer.png" if readme else Path(tempfile.mkdtemp()) / "x.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    # the README's picture, in 128 colours (a third of the PNG's bytes)
    page.screenshot(path=str(shot))
    Image.open(shot).convert("RGB").quantize(colors=128).save(shot, optimize=True)
    assert Image.open(shot).size[0] > 0


def test_rankings_per_query_agree_with_the_fold_metrics():
    """The per-query ranks the explorer shows are those the table's MRR and R@k average."""
    from trimodal.crossmodal.evaluate import crossmodal_cv

    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(30, 6))
    Xt = Xs @ rng.normal(size=(6, 5)) + 0.5 * rng.normal(size=(30, 5))
    r = crossmodal_cv(Xs, Xt, None, "ridge", folds=3, seed=0, rankings=("cosine", "csls"))
    for ranking, summary in r["by_ranking"].items():
        q, top, rank = r["retrieved"][ranking]
        assert sorted(q.tolist()) == list(range(30))
        fold = r["fold"][q]
        mrr = np.mean([np.mean(1.0 / rank[fold == f]) for f in np.unique(fold)])
        r10 = np.mean([np.mean(rank[fold == f] <= 10) for f in np.unique(fold)])
        assert mrr == pytest.approx(summary["mrr"]) and r10 == pytest.approx(summary["R@10"])
        for i, qi in enumerate(q):  # the true item is in the top-k exactly where its rank says
            if rank[i] <= top.shape[1]:
                assert top[i, rank[i] - 1] == qi
            assert set(top[i][top[i] >= 0]) <= set(np.flatnonzero(r["fold"] == r["fold"][qi]))
