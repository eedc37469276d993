"""Are the demo's feature stores the same before and after a change? (a refactor must say so)

Builds every configured extractor's store twice from scratch, in two copies of the project: the
commit `--base` (a git worktree) and this working tree (tracked and untracked files), each on its
own code (PYTHONPATH), with the demo corpus and model cache of this checkout. Then compares the
stores as the tests do (tests/workflow_project.assert_same_store): every dataset exactly, every
store attribute exactly, the provenance in full but for its code hash (which differs by design
when the code does). Prints one line per store and the wall time of each build; exits 1 if any
store differs.

    python bench/store_identity.py --base HEAD~3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.workflow_project import assert_same_store  # noqa: E402 - the tests' comparison


def copy_working_tree(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    dest.mkdir(parents=True)
    tar = subprocess.run(["tar", "cf", "-", "--null", "-T", "-"], cwd=ROOT, input=files,
                         capture_output=True, check=True).stdout  # fmt: skip
    subprocess.run(["tar", "xf", "-"], cwd=dest, input=tar, check=True)


def build_stores(project: Path, targets: list[str], cores: int) -> float:
    if not (project / "resources").exists():  # untracked: the corpus and the model cache
        (project / "resources").symlink_to(ROOT / "resources")
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    env.setdefault("TRIMODAL_MODEL_CACHE", str(ROOT / "resources" / "models"))
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), "--profile",
         "profiles/default", *targets],
        cwd=project, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="the commit to compare with")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--ignore-provenance", default="",
                    help="comma-separated provenance fields left out of the comparison "
                         "(e.g. packages, when what records them changed)")  # fmt: skip
    args = ap.parse_args()
    ignore = tuple(f for f in args.ignore_provenance.split(",") if f)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    targets = [f"results/features/{name}.h5" for name in cfg["extractors"]]
    with tempfile.TemporaryDirectory(prefix="store-identity-") as tmp:
        before, after = Path(tmp) / "before", Path(tmp) / "after"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.base],
                       cwd=ROOT, check=True, capture_output=True)  # fmt: skip
        try:
            copy_working_tree(after)
            for name, project in (("base " + args.base, before), ("working tree", after)):
                print(f"{name}: stores built in {build_stores(project, targets, args.cores):.0f} s")
            bad = 0
            for target in targets:
                try:
                    assert_same_store(before / target, after / target, exact=True,
                                      same_code=False, ignore_provenance=ignore)  # fmt: skip
                    print(f"{Path(target).name}: identical")
                except AssertionError as e:
                    print(f"{Path(target).name}: DIFFERS: {e}")
                    bad += 1
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
