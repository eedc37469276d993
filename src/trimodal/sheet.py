"""The sample sheet: read it, check it, and fail early with errors that name the row and column.

Checked before any job runs (the Snakefile calls :func:`load_sheet`): required columns, ids that
are safe as file names and wildcards, duplicate ids, and files that do not exist. A description
that is not valid UTF-8 is not a sheet error: its bad bytes are replaced and the row is flagged,
so one damaged cell never stops the corpus.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

COLUMNS = ["video_id", "video", "ad_audio", "description", "label"]
REQUIRED = ["video_id", "video"]
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_ID_RE = re.compile(rf"^{ID_PATTERN}$")


class SheetError(ValueError):
    """The sample sheet is wrong; the message lists every problem with its row and column."""


def read_sheet(path: str | Path) -> pd.DataFrame:
    """Read the TSV as strings (empty cell = ""), replacing undecodable bytes."""
    raw = Path(path).read_bytes()
    text = raw.decode("utf-8", errors="replace")
    df = pd.read_csv(
        pd.io.common.StringIO(text), sep="\t", dtype=str, keep_default_na=False, comment=None
    )
    df.columns = [c.strip() for c in df.columns]
    df.attrs["non_utf8_lines"] = _bad_utf8_lines(raw)
    return df


def _bad_utf8_lines(raw: bytes) -> list[int]:
    bad = []
    for i, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
    return bad


def check_sheet(
    df: pd.DataFrame, base_dir: str | Path = ".", check_files: bool = True
) -> list[str]:
    """Every problem found, as "row N (line L), column C: what is wrong" messages."""
    problems = []
    missing_cols = [c for c in REQUIRED if c not in df.columns]
    if missing_cols:
        return [f"missing column(s) {missing_cols}; the sheet has {list(df.columns)}"]
    base = Path(base_dir)
    seen: dict[str, int] = {}
    for i, row in enumerate(df.itertuples(index=False), start=1):
        where = f"row {i} (line {i + 1})"
        vid = str(row.video_id).strip()
        if not vid:
            problems.append(f"{where}, column video_id: empty id")
        elif not _ID_RE.match(vid):
            problems.append(
                f"{where}, column video_id: {vid!r} is not a valid id "
                f"(letters, digits, '_', '-', '.'; no spaces or slashes)"
            )
        elif vid in seen:
            problems.append(
                f"{where}, column video_id: duplicate id {vid!r} (first at row {seen[vid]})"
            )
        else:
            seen[vid] = i
        if check_files:
            for col in ("video", "ad_audio"):
                value = str(getattr(row, col, "") or "").strip()
                if col == "video" and not value:
                    problems.append(f"{where}, column video: empty path")
                elif value and not (base / value).exists():
                    problems.append(f"{where}, column {col}: file does not exist: {value}")
    return problems


def load_sheet(
    path: str | Path, base_dir: str | Path = ".", check_files: bool = True
) -> pd.DataFrame:
    """Read, check and normalise the sheet (all five columns present, indexed by video_id)."""
    df = read_sheet(path)
    problems = check_sheet(df, base_dir, check_files)
    if problems:
        head = f"sample sheet {path} has {len(problems)} problem(s):\n  "
        raise SheetError(head + "\n  ".join(problems[:50]))
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str).str.strip()
    bad = set(df.attrs.get("non_utf8_lines", []))
    df["description_flag"] = ["non-utf8" if i + 2 in bad else "" for i in range(len(df))]
    return df.set_index("video_id", drop=False)
