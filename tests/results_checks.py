"""Checks on a whole results/ tree: leftovers of killed writers, torn files, and identity with
an uninterrupted run (timing fields excepted). Used by the crash and reliability tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from tests.workflow_project import store_items

#: Snakemake's own marker inside directory outputs: hidden, but not a leftover
SNAKEMAKE_MARKERS = {".snakemake_timestamp"}

#: a field whose name matches this is a timing, different in every run
TIMING = re.compile(r"time", re.I)


def is_temporary(path: Path) -> bool:
    """A temporary name: hidden (trimodal.plumbing.atomic's `.<name>.tmp-...`) or `<name>.tmp`."""
    name = path.name
    return (name.startswith(".") and name not in SNAKEMAKE_MARKERS) or ".tmp" in name


def leftovers(results: Path) -> list[Path]:
    """Temporary files or folders anywhere under `results`."""
    return sorted(p for p in results.rglob("*") if is_temporary(p))


def final_files(results: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    """Every file under a final name (what a reader or a later run would use), but those in
    the folders `skip` (names relative to `results`)."""
    return sorted(
        p
        for p in results.rglob("*")
        if p.is_file()
        and p.name not in SNAKEMAKE_MARKERS
        and not any(is_temporary(q) for q in (p, *p.relative_to(results).parents))
        and not any(p.relative_to(results).is_relative_to(s) for s in skip)
    )


def unreadable_h5(results: Path) -> list[str]:
    """The .h5 files under `results` that HDF5 cannot open, with the reason."""
    bad = []
    for path in sorted(results.rglob("*.h5")):
        try:
            with h5py.File(path, "r") as h5:
                h5.visit(lambda _: None)
        except OSError as e:
            bad.append(f"{path}: {e}")
    return bad


def assert_no_leftovers(results: Path) -> None:
    """No temporary or partial file anywhere under results/, and every .h5 opens."""
    left = leftovers(results)
    assert not left, f"temporary files left under {results}: {[str(p) for p in left]}"
    bad = unreadable_h5(results)
    assert not bad, f"unreadable .h5 under {results}: {bad}"


def _without_timing_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if TIMING.search(str(c))])


_TABLE = re.compile(r"<table.*?</table>", re.S)
_ROW = re.compile(r"<tr.*?</tr>", re.S)
_CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)


def _html_without_timing(text: str) -> list[str]:
    """An HTML page's text outside tables, and its tables' cells without timing columns."""
    out = [_TABLE.sub("<table/>", text)]
    for table in _TABLE.findall(text):
        rows = [_CELL.findall(r) for r in _ROW.findall(table)]
        drop = {i for i, c in enumerate(rows[0] if rows else []) if TIMING.search(c)}
        out += ["|".join(c for i, c in enumerate(r) if i not in drop) for r in rows]
    return out


def _markdown_without_timing(text: str) -> list[str]:
    """The lines of a Markdown file, with the timing columns of its tables blanked."""
    out, drop = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = line.strip("|").split("|")
            if any(TIMING.search(c) for c in cells):
                drop = [i for i, c in enumerate(cells) if TIMING.search(c)]
            cells = [c for i, c in enumerate(cells) if i not in drop]
            out.append("|".join(cells))
        else:
            drop = []
            out.append(line)
    return out


def assert_same_file(a: Path, b: Path) -> None:
    """Same content as the reference, timing fields excepted (floats to 1e-5)."""
    suffix = a.suffix
    if not a.stat().st_size or not b.stat().st_size:
        assert a.read_bytes() == b.read_bytes(), b
    elif suffix == ".h5":
        da, db = store_items(a), store_items(b)
        keys = sorted(k for k in da if not TIMING.search(k))
        assert keys == sorted(k for k in db if not TIMING.search(k)), (a, b)
        for key in keys:
            va, vb = da[key], db[key]
            if key == "@attrs":
                strip = {k: str(v) for k, v in va.items() if not TIMING.search(k)}
                assert strip == {k: str(v) for k, v in vb.items() if not TIMING.search(k)}, b
            elif isinstance(va, np.ndarray) and va.dtype.kind == "f":
                np.testing.assert_allclose(va, vb, rtol=1e-5, atol=1e-6, err_msg=f"{b}: {key}")
            else:
                assert np.array_equal(np.asarray(va), np.asarray(vb)), f"{b}: {key}"
    elif suffix in (".csv", ".tsv"):
        sep = "\t" if suffix == ".tsv" else ","
        fa, fb = (_without_timing_columns(pd.read_csv(p, sep=sep)) for p in (a, b))
        pd.testing.assert_frame_equal(fa, fb, obj=str(b))
    elif suffix == ".md":
        assert _markdown_without_timing(a.read_text()) == _markdown_without_timing(b.read_text()), b
    elif suffix == ".html":
        assert _html_without_timing(a.read_text()) == _html_without_timing(b.read_text()), b
    elif suffix == ".json":
        assert json.loads(a.read_text()) == json.loads(b.read_text()), b
    else:  # figures and anything else: byte for byte
        assert a.read_bytes() == b.read_bytes(), b


def assert_whole(reference: Path, results: Path, skip: tuple[str, ...] = ()) -> None:
    """Every file under a final name is whole: each one is the reference run's file.

    This is the atomic writer's promise, checked right after a kill (before any rerun): a file
    may be missing, never torn.
    """
    files = final_files(results, skip)
    assert files, f"nothing under {results}"
    for path in files:
        ref = reference / path.relative_to(results)
        assert ref.is_file(), f"{path} is not an output of the uninterrupted run"
        try:
            assert_same_file(ref, path)
        except (OSError, ValueError, pd.errors.ParserError) as e:
            raise AssertionError(f"{path} is torn: {e}") from e


def assert_same_tree(reference: Path, results: Path, skip: tuple[str, ...] = ()) -> None:
    """The same final files as the reference run, each with the same content."""
    names = [p.relative_to(results) for p in final_files(results, skip)]
    ref_names = [p.relative_to(reference) for p in final_files(reference, skip)]
    assert names == ref_names, set(names) ^ set(ref_names)
    for name in names:
        assert_same_file(reference / name, results / name)
