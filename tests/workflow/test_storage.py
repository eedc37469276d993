"""Planning-time checks of media in object storage (trimodal.workflow.storage), against a local
S3 server (moto, loopback): absent objects are found in bulk through the provider, never with
os.path; the sheet reports them in its one message, or hands them to missing_media: skip; the
reuse cache keys a storage copy by its content."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from tests.s3_server import s3_server
from trimodal.corpus.sheet import SheetError, absent_media, load_sheet
from trimodal.store.reuse import STORAGE_COPIES_ENV, media_identity
from trimodal.workflow import storage as st
from trimodal.workflow.storage import Storage, absent_s3, is_url


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        server.bucket("media")
        for i in range(25):
            server.client().put_object(Bucket="media", Key=f"many/v{i:02d}.mp4", Body=b"x")
        server.client().put_object(Bucket="media", Key="few/a.mp4", Body=b"a")
        yield server


class FakeObject:
    """What Storage asks of a storage object: its provider's boto3 resource (the S3 plugin)."""

    def __init__(self, s3c):
        self.provider = SimpleNamespace(s3c=s3c)


class Flagged(str):
    """storage(url) as Snakemake returns it: a local path flagged with its storage object."""


def fake_storage(server, **kw) -> Storage:
    s3c = server.resource()

    def wrap(url):
        path = Flagged(f".snakemake/storage/s3/{url[5:]}")
        path.flags = {"storage_object": FakeObject(s3c)}
        return path

    return Storage(wrap=wrap, default_object=lambda query: FakeObject(s3c), **kw)


def test_is_url():
    assert is_url("s3://b/k") and is_url("gs://b/k")
    assert not is_url("media/a.mp4") and not is_url("/data/a.mp4") and not is_url("")


def test_absent_objects_in_bulk_and_one_by_one(s3, monkeypatch):
    calls = []
    real = s3.resource()
    client = real.meta.client
    for name in ("head_object", "list_objects_v2"):
        orig = getattr(client, name)
        monkeypatch.setattr(
            client, name, lambda *a, _o=orig, _n=name, **k: (calls.append(_n), _o(*a, **k))[1]
        )
    many = {f"s3://media/many/v{i:02d}.mp4": (real, f"s3://media/many/v{i:02d}.mp4")
            for i in range(30)}  # fmt: skip
    assert absent_s3(many) == {f"s3://media/many/v{i:02d}.mp4" for i in range(25, 30)}
    assert calls == ["list_objects_v2"]  # 30 objects of one folder: one listing, no HEADs
    calls.clear()
    few = {u: (real, u) for u in ("s3://media/few/a.mp4", "s3://media/few/b.mp4")}
    assert absent_s3(few) == {"s3://media/few/b.mp4"}
    assert calls == ["head_object", "head_object"]
    # a bucket that does not exist: all of its objects are absent
    assert absent_s3({"s3://nobucket/x.mp4": (real, "s3://nobucket/x.mp4")}) == {
        "s3://nobucket/x.mp4"
    }


def test_storage_never_stats_a_remote_path(s3, monkeypatch, tmp_path):
    storage = fake_storage(s3)
    (tmp_path / "here.mp4").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    seen = []
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: (seen.append(str(p)), real_exists(p))[1])
    paths = ["s3://media/few/a.mp4", "s3://media/few/gone.mp4", "here.mp4", "gone.mp4"]
    assert storage.absent(paths) == {"s3://media/few/gone.mp4", "gone.mp4"}
    assert not [p for p in seen if "s3:" in p]


def test_default_provider_maps_relative_paths_and_refuses_outside_ones(s3):
    storage = fake_storage(s3, default_provider="s3", default_prefix="s3://media/")
    assert storage.query("few/a.mp4") == "s3://media/few/a.mp4"
    assert storage.absent(["few/a.mp4", "few/b.mp4"]) == {"few/b.mp4"}
    assert "outside the storage prefix" in storage.problem("/data/a.mp4")
    assert "outside the storage prefix" in storage.problem("../a.mp4")
    assert storage.problem("few/a.mp4") is None and storage.problem("s3://media/x") is None
    assert "names no object" in storage.problem("s3://media")
    assert "no storage" in Storage().problem("s3://media/few/a.mp4")


def sheet_file(tmp_path, rows):
    path = tmp_path / "videos.tsv"
    lines = ["video_id\tvideo\tad_audio\tdescription\tlabel"]
    lines += [f"{vid}\t{video}\t\tsomething\tx" for vid, video in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sheet_names_every_absent_object_in_one_message(s3, tmp_path):
    storage = fake_storage(s3)
    rows = [("a", "s3://media/few/a.mp4"), ("b", "s3://media/few/b.mp4"),
            ("c", "s3://media/many/v99.mp4")]  # fmt: skip
    with pytest.raises(SheetError) as e:
        load_sheet(sheet_file(tmp_path, rows), files=storage)
    text = str(e.value)
    assert "2 problem(s)" in text
    assert "row 2 (line 3), column video: file does not exist: s3://media/few/b.mp4" in text
    assert "row 3 (line 4), column video: file does not exist: s3://media/many/v99.mp4" in text


def test_sheet_under_skip_makes_absent_objects_missing_rows(s3, tmp_path):
    storage = fake_storage(s3)
    rows = [("a", "s3://media/few/a.mp4"), ("b", "s3://media/few/b.mp4")]
    df = load_sheet(sheet_file(tmp_path, rows), missing_media="skip", files=storage)
    assert absent_media(df, files=storage) == {"b": ["video"]}


def test_sheet_under_a_default_provider_refuses_absolute_paths(s3, tmp_path):
    storage = fake_storage(s3, default_provider="s3", default_prefix="s3://media")
    rows = [("a", "few/a.mp4"), ("b", "/data/b.mp4")]
    with pytest.raises(SheetError) as e:
        load_sheet(sheet_file(tmp_path, rows), files=storage)
    assert "row 2 (line 3), column video: /data/b.mp4 is outside the storage prefix" in str(e.value)
    assert "1 problem(s)" in str(e.value)


def test_a_storage_copy_is_keyed_by_its_content_not_its_download_time(tmp_path, monkeypatch):
    copies = tmp_path / ".snakemake" / "storage"
    copy = copies / "s3" / "media" / "a.mp4"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"abc" * 1000)
    local = tmp_path / "a.mp4"
    local.write_bytes(b"abc" * 1000)
    monkeypatch.setenv(STORAGE_COPIES_ENV, str(copies))
    before = media_identity(copy)
    os.utime(copy, ns=(1, 1))  # downloaded again: a new mtime, the same bytes
    assert media_identity(copy) == before and "mtime_ns" not in before
    copy.write_bytes(b"abd" * 1000)  # the object replaced: same size, other bytes
    assert media_identity(copy) != before
    assert "mtime_ns" in media_identity(local)  # a local file keeps its cheap identity
    monkeypatch.delenv(STORAGE_COPIES_ENV)
    assert "mtime_ns" in media_identity(copy)


def test_module_has_no_snakemake_import():
    assert "snakemake" not in st.__dict__
