"""Code triggers derived, not listed (issue 36): editing a module reruns exactly the jobs whose
outputs that module shapes.

One small real project is run to the end (a private copy of the workflow, so that its code can
be edited): four extractors (video, audio, two text), a label set, classifiers, three fusion
kinds, a cross-modal pair and the reports. Then a comment is appended to every module under
``src/trimodal/`` in turn and the dry run's plan is read. :data:`TABLE` holds, per module, the
rules its edit may plan (the rules whose code runs it, and what depends on their outputs). A
module that shapes outputs and triggers nothing, or plumbing that reruns work, fails the test;
so does a module added to the package without an entry in the table.

Editing several modules plans the union of what each plans (a rule reruns when any module of
its code changes), so the modules that must plan nothing are edited together in one dry run
(bisected when it plans something, to name the culprits); the others one at a time.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

import trimodal.extractors  # noqa: F401 - registers the built-in kinds
from tests.workflow_project import (
    ROOT,
    SMALL_EXTRACTORS,
    make_project,
    planned_jobs,
    small_sheet,
    snakemake,
)
from trimodal.extractors.base import REGISTRY, code_modules
from trimodal.plumbing.codehash import NOT_SHAPING, closure, module_path

SRC = ROOT / "src" / "trimodal"

EXTRACTORS = {
    **copy.deepcopy(SMALL_EXTRACTORS),
    "text_desc": {"kind": "text_raw", "model": None, "params": {"sources": ["description"]}},
}


def configure(wd: Path) -> None:
    path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["classify"]["feature_sets"] = ["sbert_desc:mean", "yamnet:mean", "text_desc:text"]
    cfg["fusion"] = {
        "sets": {
            "fz": {
                "feature_sets": ["sbert_desc:mean", "yamnet:mean"],
                "classifier": "ovr_linear_svc",
                "kinds": ["early", "late-stack", "late-mean"],
                "options": {"meta_search": {"C": [0.1, 1.0]}},
            }
        }
    }
    cfg["crossmodal"] = {
        "label_set": "youtube",
        "folds": 2,
        "seed": 0,
        "methods": ["ridge"],
        "rankings": ["cosine"],
        "pairs": [{"source": "sbert_desc:mean", "target": "effnet:mean"}],
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    wd = make_project(
        tmp_path_factory.mktemp("code_triggers"),
        small_sheet(),
        EXTRACTORS,
        feature_sets=("sbert_desc:mean",),
        copy_workflow=True,
    )
    configure(wd)
    snakemake(wd, timeout=1800)
    assert planned_jobs(wd) == {}, "the finished project plans nothing"
    return wd


# --------------------------------------------------------------------------- the table

#: what the outputs of each rule feed in this project (a dry run plans those too); `all` is
#: the target rule, planned whenever anything is
REPORT = {"report", "explorer", "all"}  # the explorer reads every result
CROSSMODAL = {"crossmodal_pair", "crossmodal_report", "explorer", "all"}
FUSE = {"fuse", *REPORT}  # early and late-stack read stores; late-mean the classify results
CLASSIFY = {"classify", *FUSE}
LEARNERS = {*CLASSIFY, *CROSSMODAL}
LABELS = {"labels", *LEARNERS}
STORES = {"store", "failures", "explorer", "all"}
THUMBS = {"thumbnails", "explorer", "all"}  # the explorer's strips: the frame decoder
#: an extractor's jobs and what reads its store: effnet only the cross-modal pair, yamnet the
#: classifiers and fusion, the two text extractors the classifiers (sbert_desc also fusion
#: and the pair)
EFFNET = {"extract_effnet", *STORES, *CROSSMODAL, *REPORT}
YAMNET = {"extract_yamnet", *STORES, *CLASSIFY}
SBERT = {"extract_sbert_desc", *STORES, *LEARNERS}
TEXT_RAW = {"extract_text_desc", *STORES, "classify", *REPORT}  # a classifier input only
EVERY_EXTRACTOR = EFFNET | YAMNET | SBERT | TEXT_RAW
PROBE = {"probe", *EFFNET, *YAMNET}  # the text extractors read no probe
FRAMES = EFFNET | THUMBS

#: module (path under src/trimodal) -> the rules its edit plans in this project
PLANS: dict[str, set[str]] = {
    # the per-video compute path and what every extractor runs
    "stages/extract.py": EVERY_EXTRACTOR,
    "extractors/base.py": EVERY_EXTRACTOR | LEARNERS,
    "extractors/text_sources.py": EVERY_EXTRACTOR,
    "store/features.py": EVERY_EXTRACTOR | LABELS,  # the writer, and every stage's reader
    "domain.py": PROBE | EVERY_EXTRACTOR | LABELS | THUMBS,
    "media/probe.py": PROBE | EVERY_EXTRACTOR | THUMBS,  # the stage reads probes (partial)
    "stages/probe.py": PROBE,
    "extractors/pooling.py": EFFNET | YAMNET | SBERT,
    # one extractor each
    "extractors/frame_base.py": EFFNET,
    "extractors/frame_embedding.py": EFFNET,
    "media/frames.py": FRAMES,
    "media/sampling.py": FRAMES,
    "media/decord_backend.py": FRAMES,
    "media/pyav_backend.py": FRAMES,
    "extractors/yamnet.py": YAMNET,
    "extractors/yamnet_tf.py": YAMNET,  # the TensorFlow back-end, run as a script
    "extractors/tf_process.py": YAMNET,
    "media/audio.py": YAMNET,
    "media/audio_features.py": YAMNET,
    "extractors/sbert.py": SBERT,
    "extractors/text_raw.py": TEXT_RAW,
    # stores, labels, learners, reports
    "stages/store.py": STORES | LEARNERS,
    # the label sets and the explorer run it (the failures table gets its flags as params)
    "corpus/sheet.py": LABELS,
    "stages/labels.py": LABELS,
    "labels/label_sets.py": LABELS,
    "labels/zeroshot.py": LABELS,
    "stages/classify.py": CLASSIFY,
    **{f"learn/{m}.py": LEARNERS for m in ("classifier_spec", "classifiers", "classify", "cv",
                                           "estimators", "finetune", "pipeline", "rebalance", "results",
                                           "text", "training", "tuning")},
    "store/feature_sets.py": LEARNERS,  # feature sets read by every learner
    "stages/fuse.py": FUSE,
    "fusion/evaluate.py": FUSE,
    "fusion/kinds.py": FUSE,
    "fusion/net.py": FUSE,
    "store/rows.py": FUSE | CROSSMODAL,  # the rows early fusion and a cross-modal pair share
    "stages/crossmodal.py": CROSSMODAL,
    "crossmodal/evaluate.py": CROSSMODAL,
    "crossmodal/methods.py": CROSSMODAL,
    "crossmodal/retrieval.py": CROSSMODAL,
    "crossmodal/ranking_choice.py": CROSSMODAL,
    "crossmodal/rankings.py": CROSSMODAL,  # the ranks file's format: the explorer reads it
    # the cross-modal stage module writes its report too (one module for both rules)
    "report/summary.py": CROSSMODAL | REPORT,
    "stages/report.py": {"report", "all"},
    "report/explorer/build.py": {"explorer", "all"},
    "report/explorer/thumbs.py": THUMBS,
}  # fmt: skip

#: modules whose edit plans nothing in this project: proven not to shape outputs
#: (codehash.NOT_SHAPING), package docstrings and registries, the plan-time config check, and
#: the code of extractors, stages and corpus tools this project does not run (their rules'
#: closures are checked above, by test_every_extractor_hashes_...)
NOTHING = {
    *(m.removeprefix("trimodal.").replace(".", "/") + ".py" for m in NOT_SHAPING),
    "__init__.py",
    *(f"{pkg}/__init__.py" for pkg in ("corpus", "crossmodal", "crossmodal/clip", "extractors",
                                        "fusion", "labels", "learn", "media", "plumbing",
                                        "report", "report/explorer", "stages", "store",
                                        "workflow")),
    # planning: what it decides reaches the jobs as their inputs and params
    *(f"workflow/{m}.py" for m in ("media", "plan", "storage")),
    "plumbing/plugins.py",  # imports the plug-in modules named in the config
    "stages/config_check.py",  # checks the config before any job
    "extractors/config.py",  # the extractors' part of that check
    "store/timeline.py",  # the timeline view, no rule here
    "media/keyframes.py",  # the clip stage's frame reader
    *(f"corpus/{m}.py" for m in ("__main__", "ad_track", "badinputs", "demo", "fetch",
                                 "queryd")),  # building corpora, before the workflow
    *(f"extractors/{m}.py" for m in ("clip_frames", "clip_model", "clip_video", "cuts",
                                     "vggish", "vggish_tf", "whisper", "yolo")),
    *(f"crossmodal/clip/{m}.py" for m in ("distinct_frames", "match", "summarize",
                                          "text2image")),
    "stages/clip.py",
    "stages/distinct_frames.py",
    "report/clip.py",  # the clip stage's report and image grid
}  # fmt: skip


def module_files() -> list[str]:
    return sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py"))


def expected(module: str) -> set[str]:
    return PLANS.get(module, set())


def test_every_module_has_an_entry():
    """A module added to the package says what its edit may rerun (PLANS) or that it reruns
    nothing in this project (NOTHING)."""
    files = module_files()
    assert sorted(set(files) - set(PLANS) - NOTHING) == []
    assert sorted((set(PLANS) | NOTHING) - set(files)) == []  # no stale line
    assert set(PLANS).isdisjoint(NOTHING)


def test_every_extractor_hashes_its_compute_path_writer_and_scripts():
    """Each kind's code hash reaches the per-video compute and writer, and the TensorFlow
    scripts a back-end launches (no import statement reaches those)."""
    for kind in REGISTRY:
        mods = closure(*code_modules(kind))
        assert {"trimodal.stages.extract", "trimodal.store.features"} <= set(mods), kind
    assert "trimodal.extractors.yamnet_tf" in closure(*code_modules("yamnet"))
    assert "trimodal.extractors.vggish_tf" in closure(*code_modules("vggish"))
    assert all(module_path(m) is not None for m in NOT_SHAPING)


def edit(wd: Path, modules, run) -> dict:
    """`run()` with a comment appended to each module of the project's workflow copy."""
    src = wd / "wf" / "src" / "trimodal"
    originals = {m: (src / m).read_text() for m in modules}
    try:
        for m, text in originals.items():
            (src / m).write_text(text + "\n# an edit\n")
        return run()
    finally:
        for m, text in originals.items():
            (src / m).write_text(text)


def planning(wd: Path, modules) -> set[str]:
    return set(edit(wd, modules, lambda: planned_jobs(wd)))


def culprits(wd: Path, modules: list[str]) -> list[str]:
    """The modules of a group that plan something (bisection)."""
    if not planning(wd, modules):
        return []
    if len(modules) == 1:
        return modules
    half = len(modules) // 2
    return culprits(wd, modules[:half]) + culprits(wd, modules[half:])


@pytest.mark.slow
def test_modules_that_shape_nothing_here_plan_nothing(project):
    group = sorted(NOTHING)
    found = culprits(project, group)
    plans = {m: sorted(planning(project, [m])) for m in found}
    assert plans == {}, f"editing these modules plans work: {plans}"


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(PLANS))
def test_editing_a_module_reruns_exactly_its_rules(project, module):
    assert planning(project, [module]) == expected(module)
