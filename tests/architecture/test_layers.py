"""The package's subpackages import downward only, in data-flow order: plumbing at the bottom,
then media, corpus, extractors, store, labels, learn, fusion, crossmodal, report, the stage
entry points and the workflow's planning on top (read from the source's import statements,
lazy imports inside functions included). No module uses another module's private names."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from trimodal.plumbing.codehash import ROOT, direct_imports

#: the subpackages in data-flow order, bottom first: a module imports from its own subpackage
#: and from subpackages earlier in this list only
LAYERS = (
    "plumbing",  # atomic writes, code hashes, limits, progress: not about videos
    "domain",  # the shared types (trimodal.domain: VideoItem, Features, ExtractionError)
    "media",  # probing and decoding
    "corpus",  # the sample sheet and corpus builders (probe media)
    "extractors",  # one model each (decode media)
    "store",  # what extraction leaves (the sheet's AD tracks for the timeline)
    "labels",  # label sets from the sheet
    "learn",  # folds, classifiers, cross-validation, results
    "fusion",  # several feature sets or results of `learn`
    "crossmodal",  # pairs of stores, learnt mappings
    "report",  # reads results of every family
    "stages",  # the entry point of each rule family
    "workflow",  # planning, imported by the rules only
)


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def rank_of(module: str) -> int | None:
    """The rank of a module's subpackage in :data:`LAYERS` (None: not ranked)."""
    name = subpackage(module)
    return LAYERS.index(name) if name in LAYERS else None


def upward_imports(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """The edges of an import graph (module -> modules it imports) that run from a subpackage
    to a later one in :data:`LAYERS`."""
    return [
        f"{module} ({subpackage(module)}) -> {imported}"
        for module, imports in graph.items()
        for imported in imports
        if imported != "trimodal" and rank_of(imported) > rank_of(module)
    ]


def package_modules() -> list[str]:
    out = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out.append(".".join(["trimodal", *parts]) if parts else "trimodal")
    return sorted(set(out) - {"trimodal"})


def test_every_module_has_a_layer():
    assert [m for m in package_modules() if rank_of(m) is None] == []


def test_the_layers_list_is_about_real_subpackages():
    assert sorted(LAYERS) == sorted({subpackage(m) for m in package_modules()})


def test_no_import_runs_back_up():
    assert upward_imports({m: direct_imports(m) for m in package_modules()}) == []


def test_an_import_up_the_data_flow_is_caught():
    """learn must not import fusion (fusion builds on learn), nor anything above it."""
    assert upward_imports({"trimodal.learn.classify": ["trimodal.fusion.evaluate"]}) == [
        "trimodal.learn.classify (learn) -> trimodal.fusion.evaluate"
    ]
    assert upward_imports({"trimodal.store.features": ["trimodal.labels.label_sets"]})
    assert upward_imports({"trimodal.extractors.text_raw": ["trimodal.learn.text"]})
    # downward, within a subpackage and to the package itself: fine
    assert not upward_imports(
        {
            "trimodal.fusion.evaluate": ["trimodal.learn.classify", "trimodal.fusion.kinds"],
            "trimodal.stages.extract": ["trimodal", "trimodal.extractors"],
        }
    )


def test_no_importlib_for_the_packages_own_code():
    """Own code is imported by name; importlib only loads registered plug-ins by their path."""
    allowed = {"extractors/base.py", "plumbing/plugins.py"}  # plug-in loading
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if "importlib.import_module" in p.read_text() and str(p.relative_to(ROOT)) not in allowed
    ]
    assert offenders == []


# --------------------------------------------------------------------------- private names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    """Where `source` reaches a private name (``_x``) of another trimodal module: imports it
    (``from trimodal.x import _y``, relative imports too) or reads it as an attribute of a
    name imported from the package (``module._y``, ``Class._y``)."""
    tree = ast.parse(source)
    found, imported = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
            node.level or (node.module or "").split(".")[0] == "trimodal"
        ):
            for alias in node.names:
                if _private(alias.name) or any(map(_private, (node.module or "").split("."))):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "trimodal":
                    if any(map(_private, alias.name.split("."))):
                        found.append(f"line {node.lineno}: import {alias.name}")
                    imported.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in imported:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_uses_another_modules_private_names():
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in sorted(ROOT.rglob("*.py"))
        if (uses := private_uses(path.read_text()))
    }
    assert offenders == {}


def test_a_private_name_across_modules_is_caught():
    assert private_uses("from trimodal.learn.results import _take, CVResult\n") == [
        "line 1: from trimodal.learn.results import _take"
    ]
    assert private_uses("from .cv import _plural\n")
    assert private_uses("from trimodal.plumbing import codehash\ncodehash._all_imports('m')\n")
    assert private_uses("import trimodal.learn.cv as cv\ncv._plural(1, 'class')\n")
    assert private_uses("from trimodal.learn.results import CVResult\nCVResult._STR\n")
    # a module's own private names, dunders, other packages' names: not this rule's business
    assert not private_uses(
        "from __future__ import annotations\n"
        "from trimodal.learn.results import CVResult\n"
        "def _own(x):\n    return x._cache, CVResult.__name__\n"
        "_own(1)\n"
    )
