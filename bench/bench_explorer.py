"""Size and load time of the results explorer (issue 35), for a synthetic results tree of N
videos (the project's writers: stores, out-of-fold results, cross-modal rankings, thumbnail
strips; tests/explorer_data.py) and for explorers already built by the workflow (--explorer).

Per explorer: build seconds (synthetic only), total bytes on disk, bytes the first view loads
(index.html, assets, data/index.js and the thumbnails of the first list page), the largest
data chunk, and in headless Chromium (Playwright, Debian's chromium) the milliseconds from
navigation to the end of the load event (the browser's clock: scripts run, the first page's
thumbnails loaded), to a ready page as Playwright sees it, and from a click to one video's
details shown (its chunk loaded); median of 3 fresh pages.

    PYTHONPATH=src python bench/bench_explorer.py [--n 78 10000] [--explorer results/explorer]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.explorer_data import synthetic_tree  # noqa: E402 - the test's data, one generator
from tests.report.test_explorer import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from trimodal.report.explorer.build import build_explorer  # noqa: E402


def sizes(out: Path) -> dict[str, float]:
    files = [f for f in out.rglob("*") if f.is_file()]
    first = [out / "index.html", out / "data" / "index.js", *(out / "assets").iterdir()]
    thumbs = sorted((out / "thumbs").rglob("*.jpg"))[:50]  # the first list page's strips
    chunks = list((out / "data").glob("chunk_*.js"))
    return {
        "total_mb": sum(f.stat().st_size for f in files) / 1e6,
        "first_view_mb": sum(f.stat().st_size for f in first + thumbs) / 1e6,
        "index_js_mb": (out / "data" / "index.js").stat().st_size / 1e6,
        "largest_chunk_mb": max((f.stat().st_size for f in chunks), default=0) / 1e6,
        "n_chunks": len(chunks),
    }


def load_times(out: Path, repeat: int = 3) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    ready, loaded, detail = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeat):
            page = browser.new_page()  # a fresh page: nothing cached in the page
            t0 = time.perf_counter()
            page.goto((out / "index.html").resolve().as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=120000)
            ready.append(1000 * (time.perf_counter() - t0))
            # the browser's own clock: navigation start to the end of the load event (the
            # scripts run and the first list page's thumbnails loaded)
            page.wait_for_function("performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
            loaded.append(
                page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
            )
            last = page.locator("#list li.video").last
            vid = last.get_attribute("data-id")
            t1 = time.perf_counter()
            last.click()
            page.wait_for_selector(f"#detail[data-id='{vid}'] table.preds", timeout=60000)
            detail.append(1000 * (time.perf_counter() - t1))
            page.close()
        browser.close()
    return {
        "load_ms": statistics.median(loaded),
        "ready_ms": statistics.median(ready),
        "detail_ms": statistics.median(detail),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="*", default=[78, 10000])
    ap.add_argument("--explorer", nargs="*", default=[], help="explorers built by the workflow")
    args = ap.parse_args()
    rows = []
    for path in args.explorer:
        out = Path(path)
        rows.append({"what": str(out), "build_s": float("nan"), **sizes(out), **load_times(out)})
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            tree = synthetic_tree(Path(tmp), n=n, evil=False)
            gen = time.perf_counter() - t0
            out = Path(tmp) / "results" / "explorer"
            t0 = time.perf_counter()
            build_explorer(out, **tree["kwargs"])
            build = time.perf_counter() - t0
            print(f"synthetic {n}: tree written in {gen:.1f} s", file=sys.stderr)
            rows.append(
                {"what": f"synthetic {n} videos", "build_s": build, **sizes(out), **load_times(out)}
            )
    cols = ["what", "build_s", "total_mb", "first_view_mb", "index_js_mb", "largest_chunk_mb",
            "n_chunks", "load_ms", "ready_ms", "detail_ms"]  # fmt: skip
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print(
            "| "
            + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols)
            + " |"
        )


if __name__ == "__main__":
    main()
