"""Crash tests: a SIGKILL inside every writer, then `--unlock` and the same command.

trimodal.plumbing.atomic's test-only hook (TRIMODAL_TEST_KILL_WRITER) cuts the temporary file of the
chosen output to half its bytes and kills the whole process group (Snakemake and its jobs, as a
power cut would). Right after the kill every file under a final name must be whole (the
uninterrupted run's file); after `--unlock` and the same command again the tree must be the
uninterrupted run's, with no temporary file left and every .h5 readable.

One reference project is run once for the module (4 videos: raw text + YAMNet in batches of 3,
one classifier, one late fusion, the report). Each kill starts from a copy of it and forces the
killed job (`--forcerun`: that job and what depends on it rerun), so a test costs those jobs, not
a whole run. Each kill also runs against a deliberately broken writer (in place, patched into the
copy's private code) to show that the checks catch what they are meant to catch.
docs/reliability.md has the outcomes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import h5py
import pytest
import yaml

from tests.results_checks import (
    assert_no_leftovers,
    assert_same_file,
    assert_same_tree,
    assert_whole,
    final_files,
    is_temporary,
    leftovers,
)
from tests.workflow_project import BIN, SMALL_EXTRACTORS, make_project, small_sheet
from trimodal.plumbing.atomic import KILL_ENV, KILL_SCOPE_ENV

pytestmark = pytest.mark.slow

EXTRACTORS = {
    "text_description": {
        "kind": "text_raw",
        "modality": "text",
        "model": None,
        "params": {"sources": ["description"]},
        "batch": 1,  # one job per video
    },
    "yamnet": {**SMALL_EXTRACTORS["yamnet"], "batch": 3},
}
FEATURE_SETS = ("text_description:text", "yamnet:mean")
LABELS = ("animals", "toys")  # 2 classes x 2 videos: the smallest label set 2-fold CV accepts

# deliberately broken writers, appended to the copy's trimodal/plumbing/atomic.py
IN_PLACE = """

@contextmanager
def atomic_path(path, *, shared=False):  # BROKEN on purpose (tests/plumbing/test_crash.py): in place
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    yield path
    _test_kill(path, path)
"""
NO_SWEEP = """

def _sweep(path, shared):  # BROKEN on purpose (tests/plumbing/test_crash.py): leftovers stay
    return None
"""
# the patch changes the code hash of every rule that imports trimodal.plumbing.atomic: with the params
# trigger off, the broken copy reruns only the forced job, as the real one does
BROKEN_ARGS = ("--rerun-triggers", "mtime", "input", "software-env")


def run(wd: Path, *args: str, kill: str | None = None) -> subprocess.CompletedProcess:
    """Snakemake on `wd` with its private code, in its own session (the kill takes its group)."""
    env = {k: v for k, v in os.environ.items() if k not in (KILL_ENV, KILL_SCOPE_ENV)}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        YOLO_OFFLINE="1",
        PATH=f"{BIN}:{env.get('PATH', '')}",
        PYTHONPATH=str(wd / "wf" / "src"),
    )
    if kill:
        env.update({KILL_ENV: kill, KILL_SCOPE_ENV: "group"})
    cmd = [
        str(BIN / "snakemake"),
        "--snakefile",
        str(wd / "wf" / "Snakefile"),
        "--directory",
        str(wd),
        "--profile",
        str(wd / "wf" / "profiles" / "default"),
        "--cores",
        "2",
        *args,
    ]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        start_new_session=True,
        umask=0o022,
    )


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run, under umask 022."""
    sheet = small_sheet(per_label=2, extra_ids=())
    sheet = sheet[sheet["label"].isin(LABELS)].reset_index(drop=True)
    wd = make_project(
        tmp_path_factory.mktemp("crash_reference"),
        sheet,
        extractors=EXTRACTORS,
        feature_sets=FEATURE_SETS,
        copy_workflow=True,
    )
    config_path = wd / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["fusion"] = {
        "sets": {
            "text_audio": {
                "feature_sets": list(FEATURE_SETS),
                "classifier": "ovr_linear_svc",
                "kinds": ["late-mean"],
            }
        }
    }
    # reuse off: every forced job writes its results as a first run does (the reuse test below
    # turns it on)
    config["cache"] = {"enabled": False}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    ok(run(wd))
    return wd


def copy_of(reference: Path, dest: Path, broken: str = "", cache: str | None = None) -> Path:
    """A copy of the finished reference project (mtimes kept: up to date), its code patched,
    reuse turned on with its cache in `cache`."""
    wd = shutil.copytree(reference, dest, symlinks=True)
    if broken:
        atomic = wd / "wf" / "src" / "trimodal" / "plumbing" / "atomic.py"
        atomic.write_text(atomic.read_text() + broken)
    if cache:
        config_path = wd / "config" / "config.yaml"
        config = yaml.safe_load(config_path.read_text())
        config["cache"] = {"enabled": True, "dir": cache}
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return wd


def video_ids(reference: Path) -> list[str]:
    return sorted(p.stem for p in (reference / "results/extract/text_description").glob("*.h5"))


# name: (the output whose job is forced, the file whose writer is killed)
POINTS = {
    "extract file": ("results/extract/text_description/{v1}.h5",) * 2,
    "store aggregation": ("results/features/yamnet.h5",) * 2,
    "classify result": ("results/classify/youtube/yamnet.mean/ovr_linear_svc.h5",) * 2,
    "fusion result": ("results/fusion/youtube/late-mean/text_audio.h5",) * 2,
    "report tables": ("results/report/youtube/summary.md",) * 2,
    "report figure": ("results/report/youtube/summary.md", "results/report/youtube/bars.png"),
    # the second video of a batch of 3: the first one's file is already written
    "batched extract": (
        "results/extract/yamnet/batches/b00000",
        "results/extract/yamnet/batches/b00000/{v2}.h5",
    ),
}


def command(reference: Path, point: str) -> tuple[list[str], str]:
    """The command that reruns `point`'s job and what depends on it, and the killed file."""
    ids = video_ids(reference)
    target, path = (s.format(v1=ids[0], v2=ids[1]) for s in POINTS[point])
    return ["--forcerun", target], path


def kill_at(reference: Path, wd: Path, point: str, *extra: str) -> Path:
    """Run `point`'s command on the copy `wd` and let the hook kill the writer of its file;
    returns what the kill left of that write: the file itself or its temporary file."""
    args, path = command(reference, point)
    proc = run(wd, *args, *extra, kill=path)
    assert proc.returncode == -signal.SIGKILL, f"not killed:\n{proc.stderr[-3000:]}"
    final = wd / path
    left = [final] if final.exists() else list(final.parent.glob(f".{final.name}.tmp-*"))
    assert len(left) == 1, f"the kill never reached the writer of {path}: {left}"
    return left[0]


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_inside_writer_then_resume_gives_the_uninterrupted_results(reference, tmp_path, point):
    wd = copy_of(reference, tmp_path / "wd")
    killed = kill_at(reference, wd, point)
    # the kill landed inside the writer: its temporary file holds half the bytes, and no file
    # under a final name is torn
    assert killed.name.startswith(".") and ".tmp-" in killed.name, killed
    assert_whole(reference / "results", wd / "results")

    ok(run(wd, "--unlock"))
    ok(run(wd, *command(reference, point)[0]))  # the same command again
    assert_no_leftovers(wd / "results")
    assert_same_tree(reference / "results", wd / "results")
    dry = ok(run(wd, "--dry-run"))
    assert "Nothing to be done" in dry.stdout + dry.stderr, "the rerun left work undone"


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_against_an_in_place_writer_is_caught(reference, tmp_path, point):
    """The same kill with a writer that writes in place: the check after the kill must fail."""
    wd = copy_of(reference, tmp_path / "wd", broken=IN_PLACE)
    killed = kill_at(reference, wd, point, *BROKEN_ARGS)
    # the broken writer left a torn file under the final name
    reference_file = reference / killed.relative_to(wd)
    assert killed.stat().st_size < reference_file.stat().st_size
    with pytest.raises(AssertionError) as caught:
        assert_whole(reference / "results", wd / "results")
    assert str(killed) in str(caught.value)  # and the check names the torn file


def test_leftover_check_catches_a_writer_that_never_cleans_up(reference, tmp_path):
    """With the sweep of stale temporary files disabled, the resumed run keeps the killed
    writer's temporary file, and the leftover check must say so (the real writer: the test
    above, same point)."""
    wd = copy_of(reference, tmp_path / "wd", broken=NO_SWEEP)
    killed = kill_at(reference, wd, "store aggregation", *BROKEN_ARGS)
    ok(run(wd, "--unlock"))
    ok(run(wd, *command(reference, "store aggregation")[0], *BROKEN_ARGS))
    assert leftovers(wd / "results") == [killed]
    with pytest.raises(AssertionError, match="temporary files left"):
        assert_no_leftovers(wd / "results")


def test_outputs_are_readable_by_group_and_others_under_umask_022(reference):
    """`find results -perm 600` is empty: every file 0644, every folder 0755 (umask 022)."""
    found = subprocess.run(
        ["find", "results", "-perm", "600"], cwd=reference, capture_output=True, text=True
    )
    assert found.returncode == 0 and found.stdout == "", found.stdout
    files = final_files(reference / "results")
    assert len(files) > 20
    modes = {oct(p.stat().st_mode & 0o777) for p in files}
    assert modes == {"0o644"}, modes
    folders = [p for p in (reference / "results").rglob("*") if p.is_dir()]
    assert {oct(p.stat().st_mode & 0o777) for p in folders} == {"0o755"}


# --------------------------------------------------------------------------- per-video reuse

BATCH = "results/extract/yamnet/batches/b00000"


def cache_entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*.h5") if not is_temporary(p))


def assert_entries_whole(reference: Path, cache: Path) -> None:
    """Every entry under its final name is the reference run's file of its video."""
    for entry in cache_entries(cache):
        try:
            with h5py.File(entry, "r") as h5:
                vid = str(h5.attrs["video_id"])
        except OSError as e:
            raise AssertionError(f"{entry} is torn: {e}") from e
        (ref,) = reference.glob(f"results/extract/yamnet/batches/*/{vid}.h5")
        assert_same_file(ref, entry)


@pytest.fixture(params=["another filesystem", "results/cache"])
def cache_dir(request, tmp_path):
    """Where reuse keeps its entries: on another filesystem (copied: the writer matters) or
    beside the results (hard links, the default)."""
    if request.param == "results/cache":
        yield "results/cache"
        return
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) for a cache of copies")
    path = Path(tempfile.mkdtemp(prefix="trimodal-crash-", dir=shm))
    yield str(path)
    shutil.rmtree(path, ignore_errors=True)


def test_kill_while_a_result_is_kept_for_reuse_leaves_nothing_to_reuse(
    reference, tmp_path, cache_dir
):
    wd = copy_of(reference, tmp_path / "wd", cache=cache_dir)
    cache = wd / cache_dir  # an absolute cache_dir stays absolute
    needle = f"{cache_dir}/yamnet/"
    proc = run(wd, "--forcerun", BATCH, kill=needle)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert len(leftovers(cache)) == 1 and not cache_entries(cache)  # killed at the first entry
    assert_whole(reference / "results", wd / "results", skip=("cache",))

    ok(run(wd, "--unlock"))
    ok(run(wd, "--forcerun", BATCH))  # the same command again: computes, keeps 3 entries
    assert len(cache_entries(cache)) == 3
    assert_entries_whole(reference, cache)
    shutil.rmtree(wd / BATCH)  # a later (unforced) run of the batch reuses them
    ok(run(wd, BATCH))
    log = (wd / "logs/extract/yamnet/batches/b00000.log").read_text()
    assert "0 computed, 3 reused" in log
    for results in (wd / "results", cache):
        assert_no_leftovers(results)
    assert_same_tree(reference / "results", wd / "results", skip=("cache",))


def test_kill_while_a_result_is_kept_against_an_in_place_writer_is_caught(reference, tmp_path):
    """A copied entry written in place is torn under its final name, for a later run to reuse:
    the check after the kill must say so (hard links are placed whole by the kernel)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) for a cache of copies")
    cache = Path(tempfile.mkdtemp(prefix="trimodal-crash-", dir=shm))
    try:
        wd = copy_of(reference, tmp_path / "wd", broken=IN_PLACE, cache=str(cache))
        proc = run(wd, "--forcerun", BATCH, *BROKEN_ARGS, kill=f"{cache}/yamnet/")
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
        (torn,) = cache_entries(cache)
        with pytest.raises(AssertionError) as caught:
            assert_entries_whole(reference, cache)
        assert str(torn) in str(caught.value)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
