"""The sample sheet: read it, check it, and fail early with errors that name the line and column.

Checked before any job runs (common.smk calls :func:`load_sheet`). Every physical line of the
file is accounted for: it becomes exactly one row, or one problem naming its line, and all
problems are reported together in one :class:`SheetError`. A sheet whose every line is good
gives exactly one row per line after the header, so no row can be swallowed by another.

How a line is read (the stdlib :mod:`csv` module, one line at a time, tab-separated):

- a cell may be quoted, as pandas and spreadsheets write it: ``"a ""b"" c"`` is the cell
  ``a "b" c``; a ``"`` inside an unquoted cell (``12" plush``) is an ordinary character;
- a quote that opens a cell and is not closed on the same line is an error (a cell never
  spans lines: a newline inside a cell would shift every later row), and so is text after the
  closing quote (``"12 inch" plush``);
- more fields than the header (an unquoted tab inside a cell) or fewer (a missing tab, or a
  row cut by a newline) is an error; extra fields that are all empty (trailing tabs left by a
  spreadsheet) are dropped, since they hold nothing;
- an empty line (or one of tabs and spaces only) between rows is an error; empty lines at the
  end of the file are ignored;
- a UTF-8 byte-order mark, CRLF or CR line endings and spaces around column names are accepted;
  a UTF-16 file (a spreadsheet's "Unicode text") is decoded as such; one without its byte-order
  mark is an error that says so (its header would read as names full of NULs).

Labels are normalised once, here (:func:`normalise_label`: NFC, stripped), so a class written
with a composed and a decomposed accent is one class in every label set.

Then the rows are checked: required columns, ids that are safe as file names and wildcards,
duplicate ids, and files that do not exist. Bytes that are not valid UTF-8 are not a sheet
error: they are replaced and the row is flagged ``non-utf8`` (:func:`sheet_flags`), so one
damaged cell never stops the corpus.
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

import pandas as pd

COLUMNS = ["video_id", "video", "ad_audio", "description", "label"]
REQUIRED = ["video_id", "video"]
#: optional columns that are checked when present: the description's language (ISO code), the
#: official split, the time span of a segment row (seconds) and the AD track's time map
OPTIONAL = ["group", "language", "split", "start", "end", "ad_map"]
SPLITS = ("train", "val", "test")
#: media columns whose absent file missing_media: skip turns into error records (stage missing)
MEDIA_COLUMNS = ("video", "ad_audio")
#: every column trimodal reads (a header close to one of these gets a did-you-mean)
KNOWN_COLUMNS = [*COLUMNS, *OPTIONAL]
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_ID_RE = re.compile(rf"^{ID_PATTERN}$")
#: longest id: every file name derived from an id fits the 255-byte limit of a file name, the
#: longest included: a CLIP image cache entry ``<id>-<16 hex>-<i>.png`` (id + 24) under its
#: temporary name (+ 60: plumbing.atomic), with room to spare
MAX_ID_LENGTH = 150
FLAG_COLUMN = "description_flag"
NON_UTF8 = "non-utf8"
#: detailed problems in one error message; the lines of the rest are still listed
MAX_DETAILED = 50

_QUOTE_HINT = 'quote the whole cell and double its quotes: """12 inch"" plush"'


class SheetError(ValueError):
    """The sample sheet is wrong; the message lists every problem with its line and column."""


class Problem(NamedTuple):
    line: int
    text: str

    def __str__(self) -> str:
        return self.text


def _where(line: int) -> str:
    return "line 1 (header)" if line == 1 else f"row {line - 1} (line {line})"


def _physical_lines(path: Path) -> list[bytes]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SheetError(f"sample sheet {path} cannot be read: {e.strerror or e}") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as e:
            raise SheetError(f"sample sheet {path} starts as UTF-16 but is not: {e}") from None
    elif (encoding := _utf16_without_bom(raw)) is not None:
        raise SheetError(
            f"sample sheet {path} is {encoding} text without a byte-order mark (every other "
            "byte is a NUL): save it as UTF-8 (a spreadsheet's 'UTF-8 CSV/TSV'), or as UTF-16 "
            "with its byte-order mark"
        )
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    return raw.splitlines()


def _utf16_without_bom(raw: bytes) -> str | None:
    """'UTF-16LE' / 'UTF-16BE' when `raw` looks like BOM-less UTF-16 (NULs at every odd or
    every even byte of its start, as ASCII text in UTF-16 has), else None."""
    head = raw[:4096]
    if len(head) < 4 or b"\x00" not in head:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "UTF-16LE"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "UTF-16BE"
    return None


def header_columns(path: str | Path) -> list[str] | None:
    """The column names of the sheet's header as written (stripped), or None when unreadable."""
    try:
        lines = _physical_lines(Path(path))
    except SheetError:
        return None
    header = _fields(lines[0].decode("utf-8", errors="replace"), 1, []) if lines else None
    return None if header is None or isinstance(header, Problem) else [c.strip() for c in header]


def normalise_label(value) -> str:
    """A label as every stage compares it: Unicode NFC (one spelling of 'Música' whether the
    sheet composed or decomposed its accent), surrounding white space stripped."""
    return unicodedata.normalize(
        "NFC", str(value)
    ).strip()  # \n, \r\n and \r only (bytes), unlike str.splitlines


def _fields(text: str, line: int, columns: list[str]) -> list[str] | Problem:
    """The cells of one line, or the problem that stops it being one row."""
    try:
        return next(csv.reader([text], delimiter="\t", quotechar='"', strict=True))
    except csv.Error as e:
        reason = str(e)
    if reason == "unexpected end of data":
        # the non-strict reader puts the rest of the line into the cell the quote opened
        n = len(next(csv.reader([text], delimiter="\t", quotechar='"')))
        col = f"column {columns[n - 1]}" if n <= len(columns) else f"field {n}"
        return Problem(
            line,
            f"{_where(line)}, {col}: a quote opens the cell and is not closed on this line "
            f"(a cell cannot span lines; to start a cell with a literal '\"', "
            f"{_QUOTE_HINT})",
        )
    if reason.endswith("expected after '\"'"):  # "'<tab>' expected after '\"'"
        return Problem(
            line,
            f"{_where(line)}: text follows the closing quote of a quoted cell; {_QUOTE_HINT}",
        )
    return Problem(line, f"{_where(line)}: cannot be read as tab-separated values: {reason}")


def parse_sheet(path: str | Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every physical line as one row of the frame (index = line number) or one problem.

    Cells are raw strings; the ``description_flag`` column says ``non-utf8`` for a row whose
    line had undecodable bytes (replaced by U+FFFD).
    """
    path = Path(path)
    lines = _physical_lines(path)
    if not lines or not lines[0].strip():
        return pd.DataFrame(columns=[FLAG_COLUMN]), [Problem(1, "line 1 (header): empty")]
    problems: list[Problem] = []
    header = _fields(lines[0].decode("utf-8", errors="replace"), 1, [])
    if isinstance(header, Problem):
        return pd.DataFrame(columns=[FLAG_COLUMN]), [header]
    columns = [c.strip() for c in header]
    for i, name in enumerate(columns, start=1):
        if not name:
            problems.append(Problem(1, f"line 1 (header): column {i} has no name"))
        elif columns.index(name) != i - 1:
            problems.append(Problem(1, f"line 1 (header): column {name!r} appears twice"))
        elif name == FLAG_COLUMN:
            problems.append(Problem(1, f"line 1 (header): {FLAG_COLUMN!r} is a reserved name"))
    if problems:
        return pd.DataFrame(columns=[*columns, FLAG_COLUMN]), problems

    last = max((i for i, b in enumerate(lines) if b.strip()), default=0)
    rows, numbers, flags = [], [], []
    after_open_quote = None  # line of the previous unclosed quote, for a better hint
    for number, data in enumerate(lines[1 : last + 1], start=2):
        try:
            text, flag = data.decode("utf-8"), ""
        except UnicodeDecodeError:
            text, flag = data.decode("utf-8", errors="replace"), NON_UTF8
        if not text.strip():
            problems.append(Problem(number, f"{_where(number)}: empty line (delete it)"))
            continue
        fields = _fields(text, number, columns)
        if isinstance(fields, Problem):
            problems.append(fields)
            after_open_quote = number if "is not closed" in fields.text else None
            continue
        while len(fields) > len(columns) and not fields[-1].strip():
            fields.pop()  # trailing empty fields: nothing is lost by dropping them
        if len(fields) != len(columns):
            problems.append(
                Problem(number, _count_problem(number, fields, columns, after_open_quote))
            )
            after_open_quote = None
            continue
        after_open_quote = None
        rows.append(fields)
        numbers.append(number)
        flags.append(flag)
    df = pd.DataFrame(rows, columns=columns, index=pd.Index(numbers, name="line"), dtype=object)
    df[FLAG_COLUMN] = flags
    return df, problems


def _count_problem(line: int, fields: list[str], columns: list[str], open_quote: int | None):
    n, m = len(fields), len(columns)
    if n > m:
        why = "an unquoted tab inside a cell? quote the cell or remove the tab"
    else:
        why = f"missing {', '.join(columns[n:])}: a missing tab, or a row cut by a newline?"
    if open_quote == line - 1:
        why = f"probably the rest of the quoted cell opened on line {open_quote}"
    return f"{_where(line)}: {n} fields, the header has {m} ({why})"


def read_sheet(path: str | Path) -> pd.DataFrame:
    """The sheet's rows as raw strings (index = line number); SheetError if a line is bad."""
    df, problems = parse_sheet(path)
    if problems:
        raise SheetError(_message(path, problems))
    return df


class LocalFiles:
    """Files on the local disk, relative to `base_dir`: what :func:`check_sheet` asks by
    default. A storage-aware checker (trimodal.workflow.storage.Storage) has the same two
    methods and answers for paths that name objects, never with ``os.path``."""

    def __init__(self, base_dir: str | Path = "."):
        self.base = Path(base_dir)

    def problem(self, path: str) -> str | None:
        """Why `path` cannot be used at all (None: it can)."""
        return None

    def absent(self, paths) -> set[str]:
        """The paths whose file does not exist."""
        return {p for p in paths if not (self.base / p).exists()}


def _file_cells(df: pd.DataFrame, columns) -> list[tuple[int, str, str]]:
    """(line, column, path) of every non-empty file cell of `columns`."""
    out = []
    for col in columns:
        if col in df.columns:
            for line, value in zip(df.index, df[col], strict=True):
                value = str(value or "").strip()
                if value:
                    out.append((line, col, value))
    return out


def check_sheet(
    df: pd.DataFrame,
    base_dir: str | Path = ".",
    check_files: bool = True,
    missing_media: str = "error",
    files=None,
) -> list[Problem]:
    """Every problem of the rows, as "row N (line L), column C: what is wrong" messages.

    `df` as from :func:`parse_sheet` (index = line number). ``missing_media="skip"``: an absent
    video, AD or ad_map file is not a problem (the workflow turns the row's media jobs into error
    records, stage ``missing``: :func:`absent_media`); an empty video path still is. `files`:
    what answers whether a file exists (default :class:`LocalFiles` under `base_dir`; the
    workflow passes its storage-aware checker, which asks all paths at once).
    """
    problems = []
    missing_cols = [c for c in REQUIRED if c not in df.columns]
    if missing_cols:
        have = [c for c in df.columns if c != FLAG_COLUMN]
        hint = " (is it tab-separated?)" if len(have) == 1 and "," in have[0] else ""
        return [Problem(1, f"missing column(s) {missing_cols}; the sheet has {have}{hint}")]
    files = files if files is not None else LocalFiles(base_dir)
    seen: dict[str, int] = {}
    for line, row in zip(df.index, df.itertuples(index=False), strict=True):
        where = _where(line)
        vid = str(row.video_id).strip()
        if not vid:
            problems.append(Problem(line, f"{where}, column video_id: empty id"))
        elif not _ID_RE.match(vid):
            problems.append(
                Problem(
                    line,
                    f"{where}, column video_id: {vid!r} is not a valid id "
                    f"(letters, digits, '_', '-', '.'; no spaces or slashes)",
                )
            )
        elif len(vid.encode()) > MAX_ID_LENGTH:
            problems.append(
                Problem(
                    line,
                    f"{where}, column video_id: id of {len(vid.encode())} characters is too long "
                    f"(at most {MAX_ID_LENGTH}: the file names made from it must fit 255 bytes)",
                )
            )
        elif vid in seen:
            problems.append(
                Problem(
                    line,
                    f"{where}, column video_id: duplicate id {vid!r} (first at line {seen[vid]})",
                )
            )
        else:
            seen[vid] = line
        if check_files and not str(getattr(row, "video", "") or "").strip():
            problems.append(Problem(line, f"{where}, column video: empty path"))
        problems += [Problem(line, f"{where}, {p}") for p in _optional_problems(row)]
        problems += [Problem(line, f"{where}, {p}") for p in nul_problems(row, df.columns)]
    if check_files:
        cells = _file_cells(df, (*MEDIA_COLUMNS, "ad_map"))
        usable = []
        for line, col, value in cells:
            why = files.problem(value)
            if why:
                problems.append(Problem(line, f"{_where(line)}, column {col}: {why}"))
            else:
                usable.append((line, col, value))
        if missing_media != "skip":  # skip: the row's media jobs record it
            absent = files.absent([v for _, _, v in usable])
            problems += [
                Problem(line, f"{_where(line)}, column {col}: file does not exist: {value}")
                for line, col, value in usable
                if value in absent
            ]
    return problems


def nul_problems(row, columns) -> list[str]:
    """A NUL byte in a cell (a label, a description) cannot be stored: HDF5's strings end at
    it, and every classify job would fail on that label."""
    return [
        f"column {col}: contains a NUL byte (\\x00); remove it"
        for col, value in zip(columns, row, strict=True)
        if col != FLAG_COLUMN and "\x00" in str(value or "")
    ]


def _optional_problems(row) -> list[str]:
    """The problems of one row's optional columns (split, start, end)."""
    out = []
    split = str(getattr(row, "split", "") or "").strip()
    if split and split not in SPLITS:
        out.append(f"column split: {split!r} is not one of {', '.join(SPLITS)} (or empty)")
    bounds = {}
    for col in ("start", "end"):
        text = str(getattr(row, col, "") or "").strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            out.append(f"column {col}: {text!r} is not a number of seconds")
            continue
        if not math.isfinite(value) or value < 0:
            out.append(f"column {col}: {text!r} must be a finite number of seconds >= 0")
            continue
        bounds[col] = value
    given = [c for c in ("start", "end") if str(getattr(row, c, "") or "").strip()]
    if len(given) == 1:
        missing = "end" if given == ["start"] else "start"
        out.append(f"column {missing}: empty, but {given[0]} is given (a span needs both)")
    elif len(bounds) == 2 and not bounds["start"] < bounds["end"]:
        out.append(
            f"columns start/end: start {bounds['start']:g} is not before end {bounds['end']:g}"
        )
    return out


def row_span(row) -> tuple[float, float] | None:
    """The time span (start, end) in seconds of a checked row (a dict or a Series), or None
    when the row is its whole video (start and end empty or absent)."""
    start, end = (str(row.get(c, "") or "").strip() for c in ("start", "end"))
    if not start and not end:
        return None
    return float(start), float(end)


def absent_media(df: pd.DataFrame, base_dir: str | Path = ".", files=None) -> dict[str, list[str]]:
    """video_id -> the media columns (video, ad_audio) whose file is absent, for the rows
    that have any (what ``missing_media: skip`` turns into error records). `files`: as in
    :func:`check_sheet` (remote paths are asked of their storage provider, all at once)."""
    files = files if files is not None else LocalFiles(base_dir)
    records = df.to_dict("records")
    cells = [str(r.get(c, "") or "").strip() for r in records for c in MEDIA_COLUMNS]
    absent = files.absent([c for c in cells if c])
    out: dict[str, list[str]] = {}
    for vid, row in zip(df["video_id"], records, strict=True):
        cols = [c for c in MEDIA_COLUMNS if str(row.get(c, "") or "").strip() in absent]
        if cols:
            out[str(vid).strip()] = cols
    return out


def _message(path: str | Path, problems: list[Problem]) -> str:
    problems = sorted(problems, key=lambda p: p.line)
    n_lines = len({p.line for p in problems})
    head = f"sample sheet {path} has {len(problems)} problem(s) on {n_lines} line(s):"
    text = [head, *(f"  {p}" for p in problems[:MAX_DETAILED])]
    rest = problems[MAX_DETAILED:]
    if rest:
        text.append(f"  ... and {len(rest)} more on lines {_ranges([p.line for p in rest])}")
    return "\n".join(text)


def _ranges(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9"."""
    out: list[list[int]] = []
    for n in sorted(set(numbers)):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


def load_sheet(
    path: str | Path,
    base_dir: str | Path = ".",
    check_files: bool = True,
    missing_media: str = "error",
    files=None,
) -> pd.DataFrame:
    """Read, check and normalise the sheet: indexed by video_id, the five columns (stripped,
    "" when absent), any other column of the sheet (the optional ones stripped), and
    ``description_flag``. ``missing_media``, `files`: see :func:`check_sheet`.

    Raises one SheetError listing every bad line, unreadable ones and bad rows together.
    """
    df, problems = parse_sheet(path)
    if not any(p.line == 1 for p in problems):  # a bad header leaves no rows to check
        problems += check_sheet(df, base_dir, check_files, missing_media, files)
    if problems:
        raise SheetError(_message(path, problems))
    flags = df.pop(FLAG_COLUMN)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str).str.strip()
    df["label"] = df["label"].map(normalise_label)
    for col in OPTIONAL:
        if col in df.columns:
            df[col] = df[col].fillna("").astype(str).str.strip()
    df[FLAG_COLUMN] = flags
    return df.set_index("video_id", drop=False)


def sheet_flags(path: str | Path) -> pd.DataFrame:
    """The flagged rows (video_id, flag, line): for results/failures.tsv or the report.

    A flag does not stop the run (e.g. ``non-utf8``: bytes replaced in that line's cells);
    `line` is the physical line of the file (1 = header).
    """
    df, problems = parse_sheet(path)
    if not problems:
        problems = check_sheet(df, check_files=False)
    if problems:
        raise SheetError(_message(path, problems))
    flagged = df[df[FLAG_COLUMN] != ""]
    return pd.DataFrame(
        {
            "video_id": flagged["video_id"].str.strip().to_numpy(dtype=object),
            "flag": flagged[FLAG_COLUMN].to_numpy(dtype=object),
            "line": flagged.index.to_numpy(dtype=int),
        }
    )
