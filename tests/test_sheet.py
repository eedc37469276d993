"""The sample sheet is checked before any job runs, with errors that name the row and column."""

from pathlib import Path

import pytest

from trimodal.sheet import SheetError, load_sheet

HEADER = "video_id\tvideo\tad_audio\tdescription\tlabel\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    p = tmp_path / "videos.tsv"
    p.write_text(header + body)
    return p


def test_good_sheet_loads_with_all_columns(tmp_path):
    p = write(tmp_path, "v1\ta.mp4\t\ta dog\tanimals\nv2\tb.mp4\t\t\t\n")
    df = load_sheet(p, base_dir=tmp_path)
    assert list(df.index) == ["v1", "v2"]
    assert df.loc["v2", "label"] == "" and df.loc["v1", "description"] == "a dog"


def test_duplicate_id_names_both_rows(tmp_path):
    p = write(tmp_path, "v1\ta.mp4\t\t\t\nv1\tb.mp4\t\t\t\n")
    with pytest.raises(
        SheetError, match=r"row 2 \(line 3\), column video_id: duplicate id 'v1' \(first at row 1\)"
    ):
        load_sheet(p, base_dir=tmp_path)


@pytest.mark.parametrize("bad_id", ["my video", "a/b", "../x", ""])
def test_unsafe_id_is_rejected(tmp_path, bad_id):
    p = write(tmp_path, f"{bad_id}\ta.mp4\t\t\t\n")
    with pytest.raises(SheetError, match="row 1 .*column video_id"):
        load_sheet(p, base_dir=tmp_path)


def test_missing_file_and_missing_ad_track_are_named(tmp_path):
    p = write(tmp_path, "v1\tnope.mp4\t\t\t\nv2\tb.mp4\tgone.wav\t\t\n")
    with pytest.raises(SheetError) as e:
        load_sheet(p, base_dir=tmp_path)
    msg = str(e.value)
    assert "row 1 (line 2), column video: file does not exist: nope.mp4" in msg
    assert "row 2 (line 3), column ad_audio: file does not exist: gone.wav" in msg


def test_missing_required_column(tmp_path):
    p = write(tmp_path, "v1\tdog\n", header="video_id\tdescription\n")
    with pytest.raises(SheetError, match=r"missing column\(s\) \['video'\]"):
        load_sheet(p, base_dir=tmp_path)


def test_non_utf8_description_is_flagged_not_fatal(tmp_path):
    p = write(tmp_path, "")
    p.write_bytes(HEADER.encode() + b"v1\ta.mp4\t\tcaf\xe9 au lait\tfood\n")
    df = load_sheet(p, base_dir=tmp_path)
    assert df.loc["v1", "description_flag"] == "non-utf8"
    assert df.loc["v1", "description"].startswith("caf")
