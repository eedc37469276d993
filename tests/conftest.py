"""Shared fixtures: real media fetched at set-up (see trimodal.corpus), tmp model cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRACTED = ROOT / "resources" / "downloads" / "extracted"

os.environ.setdefault("TRIMODAL_MODEL_CACHE", str(ROOT / "resources" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def real_media() -> Path:
    """Root of the unpacked Debian media packages (same layout as inside the .deb files)."""
    if not (EXTRACTED / "usr" / "share").is_dir():
        pytest.skip("real media not fetched: run `make corpus` first")
    return EXTRACTED


@pytest.fixture(scope="session")
def mimetype_clips(real_media: Path) -> Path:
    """The same LEGO clip in mp4, webm, ogv, mov, flv, mkv (plus Big Buck Bunny files)."""
    return real_media / "usr/share/gocode/src/github.com/gabriel-vasile/mimetype/testdata"


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """One real run of the workflow (private copy of the code) on a small real corpus."""
    from tests.workflow_project import make_project, small_sheet, snakemake

    wd = make_project(tmp_path_factory.mktemp("project"), small_sheet(), copy_workflow=True)
    snakemake(wd)
    return wd
