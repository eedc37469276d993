"""Which code a result depends on: a hash over the trimodal modules a rule's code imports.

Rules put :func:`code_hash` of their entry module into ``params:``, so Snakemake's params
trigger reruns a job whenever any package module its code can reach changes (editing
``media/frames.py`` reruns the video extractors, not the text ones). The closure is found by
reading the modules' ``import`` statements (``ast``), lazy imports inside functions included,
so planning a workflow never imports torch or a model library.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "trimodal"
ROOT = Path(__file__).resolve().parent.parent  # src/trimodal


def module_path(module: str) -> Path | None:
    """Source file of a trimodal module (a package's ``__init__.py``), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return _plugin_path(module)
    base = ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


#: modules outside the package whose source counts (plug-in extractors named in the config)
PLUGINS: set[str] = set()


def _plugin_path(module: str) -> Path | None:
    """A plug-in module's file, found without importing it (only for PLUGINS)."""
    if module not in PLUGINS:
        return None
    from importlib.util import find_spec

    spec = find_spec(module)
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


#: modules proven not to shape any output, each with the reason: they move, log, cache or
#: schedule results (and find the weights, whose identity each file records by fingerprint).
#: Left out of every closure, with what only they import, so editing one reruns nothing;
#: tests/workflow/test_code_triggers.py edits every module of the package and reads the plan.
NOT_SHAPING: dict[str, str] = {
    "trimodal.plumbing.atomic": "writes under a temporary name, then renames",
    "trimodal.plumbing.progress": "progress bars",
    "trimodal.plumbing.batching": "how many items a job or a model call takes (run-time)",
    "trimodal.media.prefetch": "decodes ahead in a thread: the same frames, sooner",
    "trimodal.store.reuse": "the reuse cache: serves a copy of an identical earlier result",
    "trimodal.plumbing.limits": "the memory guard",
    "trimodal.plumbing.joblog": "job logs",
    "trimodal.plumbing.userror": "error messages",
    "trimodal.plumbing.config_problems": "the wording of config problems",
    "trimodal.plumbing.threads": "thread counts",
    "trimodal.plumbing.device": "where a job runs; the `device` setting itself is a param",
    "trimodal.plumbing.models": "finds the weights; which weights ran is fingerprinted per file",
    "trimodal.plumbing.codehash": "computes these hashes and the recorded versions",
    "trimodal.plumbing.isolation": "runs the per-video compute in a child process: same compute",
    "trimodal.stages.worker": "starts and stops that child process for the extract stage",
}
#: the same names as a set (the `skip` of :func:`closure`)
PLUMBING = frozenset(NOT_SHAPING)

#: what every extract job runs besides its kind's module: the per-video compute (reuse, error
#: records, spans) and the per-video writer
EXTRACT_PATH = ("trimodal.stages.extract", "trimodal.store.features")


def extract_modules(module: str, scripts=()) -> tuple[str, ...]:
    """Entry modules of an extractor's jobs: its kind's `module`, :data:`EXTRACT_PATH`, and the
    `scripts` it launches in another interpreter (``Extractor.SCRIPTS``: the TensorFlow
    back-ends), which no import statement reaches."""
    return (module, *EXTRACT_PATH, *scripts)


@cache
def direct_imports(module: str) -> tuple[str, ...]:
    """The trimodal modules `module`'s source imports (lazy imports included)."""
    return tuple(sorted(m for m in _all_imports(module) if module_path(m) is not None))


@cache
def _all_imports(module: str) -> frozenset[str]:
    """Every module name `module`'s source imports (package or not, lazy imports included)."""
    path = module_path(module)
    if path is None:
        return frozenset()
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            subs = {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
            found.update(subs)
            # the package itself runs too, but counts only when a name comes from it (not for
            # `from trimodal.store import features`: the package's docstring shapes nothing)
            if not base.startswith(f"{PACKAGE}.") or any(module_path(m) is None for m in subs):
                found.add(base)
    return frozenset(found)


def closure(*modules: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """The given trimodal modules and every trimodal module they import, transitively.

    A package's ``__init__`` counts only where it is imported by name: Python runs it before a
    submodule, but ``trimodal.extractors`` only registers names, and adding an extractor there
    must not rerun the others. Modules in `skip` (and what only they import) are left out.
    """
    unknown = [m for m in modules if module_path(m) is None and m.startswith(f"{PACKAGE}.")]
    if unknown:  # a renamed or moved module: a hash of nothing would never rerun anything
        raise ValueError(f"no such module of the package: {', '.join(unknown)}")
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        m = todo.pop()
        if m in seen or m in skip or module_path(m) is None:
            continue
        seen.add(m)
        todo += direct_imports(m)
    return sorted(seen)


def code_hash(*modules: str, skip: frozenset[str] = PLUMBING) -> str:
    """16 hex digits over the source of :func:`closure` (module names and bytes), plumbing
    (:data:`PLUMBING`) left out: a progress-bar or cache fix reruns no job."""
    h = hashlib.sha256()
    for m in closure(*modules, skip=skip):
        h.update(m.encode() + b"\0" + module_path(m).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def third_party(*modules: str, skip: frozenset[str] = PLUMBING) -> list[str]:
    """Top-level names of the non-trimodal modules that :func:`closure` imports (``torch``,
    ``av``, ``onnxruntime``...): the libraries that compute a result."""
    names = set()
    for m in closure(*modules, skip=skip):
        names.update(i.split(".")[0] for i in _all_imports(m) if module_path(i) is None and i)
    return sorted(names - {PACKAGE, "__future__"})


@cache
def _distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


#: libraries that a library named by an import computes with, though the code never imports
#: them by name (faster-whisper runs CTranslate2; Sentence-BERT runs transformers; ultralytics
#: runs an exported model on onnxruntime)
COMPUTE_DEPS = {
    "faster-whisper": ("ctranslate2",),
    "sentence-transformers": ("transformers", "tokenizers"),
    "ultralytics": ("onnxruntime",),
}


def package_versions(*modules: str, skip: frozenset[str] = PLUMBING) -> dict[str, str]:
    """Installed version of each distribution that :func:`third_party` names (standard library
    and absent packages left out), read from package metadata without importing anything."""
    from importlib.metadata import PackageNotFoundError, version

    dists = {d.lower() for name in third_party(*modules, skip=skip)
             for d in _distributions().get(name, [])}  # fmt: skip
    dists.update(dep for d in list(dists) for dep in COMPUTE_DEPS.get(d, ()))
    out = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return dict(sorted(out.items()))
