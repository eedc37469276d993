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
ROOT = Path(__file__).resolve().parent


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


@cache
def _direct_imports(module: str) -> tuple[str, ...]:
    path = module_path(module)
    if path is None:
        return ()
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
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
    return tuple(sorted(m for m in found if module_path(m) is not None))


def closure(*modules: str) -> list[str]:
    """The given trimodal modules and every trimodal module they import, transitively.

    A package's ``__init__`` counts only where it is imported by name: Python runs it before a
    submodule, but ``trimodal.extractors`` only registers names, and adding an extractor there
    must not rerun the others.
    """
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        m = todo.pop()
        if m in seen or module_path(m) is None:
            continue
        seen.add(m)
        todo += _direct_imports(m)
    return sorted(seen)


def code_hash(*modules: str) -> str:
    """16 hex digits over the source of :func:`closure` (module names and bytes)."""
    h = hashlib.sha256()
    for m in closure(*modules):
        h.update(m.encode() + b"\0" + module_path(m).read_bytes() + b"\0")
    return h.hexdigest()[:16]
