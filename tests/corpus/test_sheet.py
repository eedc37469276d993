"""The sample sheet: every physical line becomes one row or one error naming its line, and a bad
sheet stops `snakemake` before any job with one message and no traceback."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.workflow_project import make_project, snakemake
from trimodal.corpus.sheet import SheetError, load_sheet, parse_sheet, sheet_flags
from trimodal.plumbing.userror import fail

HEADER = "video_id\tvideo\tad_audio\tdescription\tlabel\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    p = tmp_path / "videos.tsv"
    p.write_bytes((header + body).encode())
    return p


def good(i: int, description: str = "a clip", label: str = "animals") -> str:
    return f"v{i}\ta.mp4\t\t{description}\t{label}\n"


def sheet_error(p: Path, tmp_path: Path) -> str:
    with pytest.raises(SheetError) as e:
        load_sheet(p, base_dir=tmp_path)
    return str(e.value)


def assert_every_line_accounted(p: Path) -> None:
    """Each data line is exactly one row or the subject of at least one problem."""
    n_lines = len(p.read_bytes().splitlines())
    df, problems = parse_sheet(p)
    rows, bad = set(df.index), {q.line for q in problems}
    assert not rows & bad
    assert rows | bad == set(range(2, n_lines + 1))


# ----------------------------------------------------------------------- well-formed sheets


def test_good_sheet_loads_with_all_columns(tmp_path):
    p = write(tmp_path, "v1\ta.mp4\t\ta dog\tanimals\nv2\tb.mp4\t\t\t\n")
    df = load_sheet(p, base_dir=tmp_path)
    assert list(df.index) == ["v1", "v2"]
    assert df.loc["v2", "label"] == "" and df.loc["v1", "description"] == "a dog"
    assert list(df.columns) == [
        "video_id",
        "video",
        "ad_audio",
        "description",
        "label",
        "description_flag",
    ]


def test_every_good_line_is_one_row_and_quoted_cells_round_trip(tmp_path):
    """A sheet written by pandas (which quotes cells holding quotes or tabs) reads back as it
    was: exactly one row per line, never fewer."""
    descriptions = [
        '"12 inch dolphin plush"',
        '12" dolphin',
        'a "b" c',
        "tab\tinside",
        "Música, News/Politics & a|b",
        '"',
        "",
    ]
    (tmp_path / "a.mp4").write_bytes(b"x")
    sheet = pd.DataFrame(
        {
            "video_id": [f"v{i}" for i in range(len(descriptions))],
            "video": "a.mp4",
            "ad_audio": "",
            "description": descriptions,
            "label": "Autos & Vehicles",
        }
    )
    p = tmp_path / "videos.tsv"
    sheet.to_csv(p, sep="\t", index=False)
    assert len(p.read_text().splitlines()) == len(sheet) + 1
    df = load_sheet(p, base_dir=tmp_path)
    assert len(df) == len(sheet)
    assert list(df["description"]) == [d.strip() for d in descriptions]
    assert set(df["description_flag"]) == {""}


def test_doubled_quotes_on_one_line_are_one_cell(tmp_path):
    p = write(tmp_path, good(1, '"a ""b"" c"') + good(2))
    df = load_sheet(p, base_dir=tmp_path)
    assert df.loc["v1", "description"] == 'a "b" c' and len(df) == 2


def test_bom_crlf_and_spaces_around_column_names(tmp_path):
    p = write(tmp_path, "")
    body = (HEADER.replace("label", "label  ") + good(1) + good(2, label="music")).encode()
    p.write_bytes(b"\xef\xbb\xbf" + body.replace(b"\n", b"\r\n"))
    df = load_sheet(p, base_dir=tmp_path)
    assert list(df.index) == ["v1", "v2"]
    assert list(df["label"]) == ["animals", "music"]  # no "\r" left, "label  " found


def test_cr_only_line_endings(tmp_path):
    p = write(tmp_path, "")
    p.write_bytes((HEADER + good(1) + good(2)).replace("\n", "\r").encode())
    assert list(load_sheet(p, base_dir=tmp_path).index) == ["v1", "v2"]


def test_utf16_sheet_from_a_spreadsheet_is_decoded(tmp_path):
    p = write(tmp_path, "")
    p.write_bytes((HEADER + good(1, "Música")).encode("utf-16"))
    df = load_sheet(p, base_dir=tmp_path)
    assert df.loc["v1", "description"] == "Música" and df.loc["v1", "description_flag"] == ""


def test_trailing_empty_lines_and_trailing_empty_fields_are_ignored(tmp_path):
    p = write(tmp_path, good(1).replace("\n", "\t\t\n") + good(2) + "\n\n\t\t\t\t\n")
    df = load_sheet(p, base_dir=tmp_path)
    assert list(df.index) == ["v1", "v2"] and df.loc["v1", "label"] == "animals"


# --------------------------------------------------------------------- malformed lines (8+)


def test_stray_quote_is_an_error_naming_its_line_and_loses_no_row(tmp_path):
    """The issue's case: a 5-row sheet once became 3 videos, one with another row's label."""
    body = good(1) + good(2) + good(3, '"12 inch dolphin plush', "toys") + good(4) + good(5)
    p = write(tmp_path, body)
    msg = sheet_error(p, tmp_path)
    assert "row 3 (line 4), column description: a quote opens the cell and is not closed" in msg
    assert "1 problem(s) on 1 line(s)" in msg
    df, problems = parse_sheet(p)
    assert list(df["video_id"]) == ["v1", "v2", "v4", "v5"]
    assert list(df.index) == [2, 3, 5, 6] and set(df["label"]) == {"animals"}
    assert_every_line_accounted(p)


def test_text_after_a_closing_quote(tmp_path):
    p = write(tmp_path, good(1) + good(2, '"12 inch" dolphin'))
    assert "row 2 (line 3): text follows the closing quote" in sheet_error(p, tmp_path)


def test_quote_opened_and_closed_across_lines_names_both_lines(tmp_path):
    p = write(tmp_path, good(1) + 'v2\ta.mp4\t\t"first half\nsecond half"\tanimals\n' + good(3))
    msg = sheet_error(p, tmp_path)
    assert "row 2 (line 3), column description: a quote opens the cell" in msg
    assert "row 3 (line 4): 2 fields, the header has 5 (probably the rest of the quoted " in msg
    assert "opened on line 3" in msg
    assert list(parse_sheet(p)[0]["video_id"]) == ["v1", "v3"]
    assert_every_line_accounted(p)


def test_unquoted_embedded_newline_names_both_halves(tmp_path):
    p = write(tmp_path, good(1) + "v2\ta.mp4\t\tfirst half\nsecond half\tanimals\n" + good(3))
    msg = sheet_error(p, tmp_path)
    assert "row 2 (line 3): 4 fields, the header has 5 (missing label" in msg
    assert "row 3 (line 4): 2 fields, the header has 5" in msg
    assert_every_line_accounted(p)


def test_extra_unquoted_tab_is_a_sheet_error_not_a_traceback(tmp_path):
    p = write(tmp_path, good(1) + good(2, "a\tdog") + good(3))
    msg = sheet_error(p, tmp_path)
    assert "row 2 (line 3): 6 fields, the header has 5 (an unquoted tab inside a cell?" in msg
    assert_every_line_accounted(p)


def test_missing_field(tmp_path):
    p = write(tmp_path, good(1) + "v2\ta.mp4\t\tdog\n")
    assert "row 2 (line 3): 4 fields, the header has 5 (missing label" in sheet_error(p, tmp_path)


def test_empty_line_in_the_middle(tmp_path):
    p = write(tmp_path, good(1) + "\n" + "  \t \n" + good(2))
    msg = sheet_error(p, tmp_path)
    assert "row 2 (line 3): empty line" in msg and "row 3 (line 4): empty line" in msg
    assert_every_line_accounted(p)


def test_non_utf8_flag_lands_on_its_own_row(tmp_path):
    p = write(tmp_path, "")
    lines = [good(1), good(2), "v3\ta.mp4\t\tcaf\xe9 au lait\tfood\n", good(4)]
    raw = HEADER.encode() + b"".join(
        line.encode("latin-1") if "\xe9" in line else line.encode() for line in lines
    )
    p.write_bytes(raw.replace(b"\n", b"\r\n"))
    df = load_sheet(p, base_dir=tmp_path)
    assert dict(df["description_flag"]) == {"v1": "", "v2": "", "v3": "non-utf8", "v4": ""}
    assert df.loc["v3", "description"] == "caf\ufffd au lait"
    flags = sheet_flags(p)
    assert flags.to_dict("records") == [{"video_id": "v3", "flag": "non-utf8", "line": 4}]


def test_duplicate_id_after_a_bad_line_names_the_physical_lines(tmp_path):
    p = write(tmp_path, good(1) + good(2, '"unclosed') + good(3) + good(1))
    msg = sheet_error(p, tmp_path)
    assert "row 2 (line 3), column description: a quote opens the cell" in msg
    assert "row 4 (line 5), column video_id: duplicate id 'v1' (first at line 2)" in msg
    assert "2 problem(s) on 2 line(s)" in msg


def test_every_bad_line_is_named_even_past_the_detailed_ones(tmp_path):
    body = good(1) + "".join(f"v{i}\ta.mp4\n" for i in range(2, 80)) + good(80)
    p = write(tmp_path, body)
    msg = sheet_error(p, tmp_path)
    assert "78 problem(s) on 78 line(s)" in msg
    assert "row 50 (line 51)" in msg and "... and 28 more on lines 53-80" in msg


def test_bad_header(tmp_path):
    p = write(tmp_path, good(1), header="video_id\tvideo\t\tvideo\n")
    msg = sheet_error(p, tmp_path)
    assert "line 1 (header): column 3 has no name" in msg
    assert "line 1 (header): column 'video' appears twice" in msg


def test_comma_separated_sheet_gets_a_hint(tmp_path):
    p = write(tmp_path, "v1,a.mp4\n", header="video_id,video\n")
    assert "(is it tab-separated?)" in sheet_error(p, tmp_path)


def test_missing_sheet_file_is_a_sheet_error(tmp_path):
    with pytest.raises(SheetError, match="nope.tsv cannot be read"):
        load_sheet(tmp_path / "nope.tsv")


# ------------------------------------------------------------------------ row checks


def test_duplicate_id_names_both_rows(tmp_path):
    p = write(tmp_path, "v1\ta.mp4\t\t\t\nv1\tb.mp4\t\t\t\n")
    with pytest.raises(
        SheetError,
        match=r"row 2 \(line 3\), column video_id: duplicate id 'v1' \(first at line 2\)",
    ):
        load_sheet(p, base_dir=tmp_path)


@pytest.mark.parametrize("bad_id", ["my video", "a/b", "../x", ""])
def test_unsafe_id_is_rejected(tmp_path, bad_id):
    p = write(tmp_path, f"{bad_id}\ta.mp4\t\tx\t\n")
    with pytest.raises(SheetError, match=r"row 1 \(line 2\), column video_id"):
        load_sheet(p, base_dir=tmp_path)


def test_missing_file_and_missing_ad_track_are_named(tmp_path):
    p = write(tmp_path, "v1\tnope.mp4\t\t\t\nv2\tb.mp4\tgone.wav\t\t\n")
    msg = sheet_error(p, tmp_path)
    assert "row 1 (line 2), column video: file does not exist: nope.mp4" in msg
    assert "row 2 (line 3), column ad_audio: file does not exist: gone.wav" in msg


def test_missing_required_column(tmp_path):
    p = write(tmp_path, "v1\tdog\n", header="video_id\tdescription\n")
    with pytest.raises(SheetError, match=r"missing column\(s\) \['video'\]"):
        load_sheet(p, base_dir=tmp_path)


# -------------------------------------------------------- the message reaches the user plainly


def test_fail_prints_one_message_and_exits_1():
    code = (
        "from trimodal.plumbing.userror import fail; fail('sample sheet x: row 2 (line 3) is bad')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "Error: sample sheet x: row 2 (line 3) is bad\n"
    with pytest.raises(SystemExit):
        fail("x")


def test_snakemake_on_a_bad_sheet_prints_the_lines_without_traceback(tmp_path):
    wd = make_project(tmp_path, pd.DataFrame({"video_id": ["v0"], "video": ["a.mp4"]}))
    (wd / "a.mp4").write_bytes(b"x")
    body = good(1) + good(2, '"12 inch dolphin plush') + good(3, "a\tdog") + good(1)
    (wd / "config" / "videos.tsv").write_text(HEADER + body)
    proc = snakemake(wd, "--dry-run", check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "row 2 (line 3), column description: a quote opens the cell" in out
    assert "row 3 (line 4): 6 fields, the header has 5" in out
    assert "row 4 (line 5), column video_id: duplicate id 'v1' (first at line 2)" in out
    assert "Traceback" not in out and "common.smk" not in out and 'File "' not in out
    assert not (wd / "results").exists()
