"""The package's layers import downward only: shared types and decoding at the bottom,
extractors and learners above them, stage entry points on top (read from the source's import
statements, lazy imports inside functions included)."""

from __future__ import annotations

from pathlib import Path

from trimodal.plumbing.codehash import ROOT, _direct_imports

#: layer of each module, bottom (0) to top; a module may import only from its layer or below
LAYERS = {
    0: ["plumbing", "plumbing.atomic", "plumbing.batching", "plumbing.codehash",
        "plumbing.device", "plumbing.isolation", "plumbing.joblog", "plumbing.models", "plumbing.plugins",
        "plumbing.progress", "plumbing.config_problems", "plumbing.threads", "plumbing.userror", "domain",
        "corpus.sheet", "extractors.pooling", "store", "store.reuse", "store.rows", "labels",
        "learn",
        "learn.training", "fusion", "crossmodal", "crossmodal.retrieval", "crossmodal.clip",
        "report", "report.explorer"],
    1: ["plumbing.limits", "media", "media.*", "extractors.text_sources", "store.features"],
    2: ["corpus", "corpus.*", "extractors", "extractors.*", "store.timeline",
        "labels.label_sets", "labels.zeroshot", "learn.classifiers", "learn.classifier_spec", "learn.classify",
        "learn.cv", "learn.estimators", "learn.rebalance", "learn.finetune", "learn.tuning", "fusion.evaluate",
        "fusion.kinds", "fusion.net", "crossmodal.evaluate", "crossmodal.methods",
        "crossmodal.ranking_choice",
        "crossmodal.clip.distinct_frames", "crossmodal.clip.match", "crossmodal.clip.summarize",
        "crossmodal.clip.text2image", "report.summary", "report.clip", "stages.config_check",
        "crossmodal.rankings", "report.explorer.build", "report.explorer.thumbs"],
    3: ["stages", "stages.*"],
    # the workflow's planning (trimodal.workflow): above the stages, imported by the rules only
    4: ["workflow", "workflow.*"],
}  # fmt: skip


def layer_of(module: str) -> int | None:
    name = module.removeprefix("trimodal.")
    for layer, names in LAYERS.items():
        for pattern in names:
            if name == pattern or (pattern.endswith(".*") and name.startswith(pattern[:-1])):
                return layer
    return None


def package_modules() -> list[str]:
    out = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out.append(".".join(["trimodal", *parts]) if parts else "trimodal")
    return sorted(set(out) - {"trimodal"})


def test_every_module_has_a_layer():
    assert [m for m in package_modules() if layer_of(m) is None] == []


def test_no_import_runs_back_up():
    upward = []
    for module in package_modules():
        for imported in _direct_imports(module):
            if imported != "trimodal" and layer_of(imported) > layer_of(module):
                upward.append(f"{module} (layer {layer_of(module)}) -> {imported}")
    assert upward == []


def test_no_importlib_for_the_packages_own_code():
    """Own code is imported by name; importlib only loads registered plug-ins by their path."""
    allowed = {"extractors/base.py", "plumbing/plugins.py"}  # plug-in loading
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if "importlib.import_module" in p.read_text() and str(p.relative_to(ROOT)) not in allowed
    ]
    assert offenders == []


def test_the_layers_list_is_about_real_modules():
    known = set(package_modules())
    for names in LAYERS.values():
        for name in names:
            if not name.endswith(".*"):
                assert f"trimodal.{name}" in known, name
    assert Path(ROOT.joinpath(*"domain.py".split("/"))).is_file()
