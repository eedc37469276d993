"""Every key the configuration schema accepts does something (issue 23), checked by perturbing it.

A small real project is run to the end once. Then each key of the schema is changed, one at a
time, and `snakemake --dry-run` must plan work: the key reaches a job's params or the plan
(new targets). A key that must *not* rerun anything (resources, the cache's place, the model
cache, shards...) is run-time only: its perturbation plans nothing, and its effect is checked
here (in the plan's resources, or in what the run left) or by the named test. The clip stage's
keys are perturbed the same way on the CLIP project of tests/crossmodal/test_clip_stage.py. A key added to
the schema without an entry in one of these tables fails `test_every_schema_key_has_a_check`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from tests.workflow_project import (
    ROOT,
    SMALL_EXTRACTORS,
    at,
    make_project,
    patch,
    perturbed,
    planned_jobs,
    small_sheet,
    snakemake,
)

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def schema_keys(node=None, path=()) -> list[tuple[str, ...]]:
    """Every key path the schema accepts (`*` for a named entry, `[]` for a list item)."""
    node = yaml.safe_load(SCHEMA.read_text()) if node is None else node
    out = []
    if not isinstance(node, dict):
        return out
    for k, v in (node.get("properties") or {}).items():
        out += [(*path, k), *schema_keys(v, (*path, k))]
    if isinstance(node.get("additionalProperties"), dict):
        out += schema_keys(node["additionalProperties"], (*path, "*"))
    for sub in node.get("anyOf") or []:
        out += schema_keys(sub, path)
    if isinstance(node.get("items"), dict):
        out += schema_keys(node["items"], (*path, "[]"))
    return sorted(set(out))


def dotted(key: tuple[str, ...]) -> str:
    return ".".join(key)


# --------------------------------------------------------------------------- the project

EXTRACTORS = {
    **copy.deepcopy(SMALL_EXTRACTORS),
    "whisper_ad": {
        "kind": "whisper",
        "model": "tiny.en",
        "params": {"source": "ad_audio", "vad": True, "beam_size": 1, "compute_type": "int8"},
    },
    "text_desc": {"kind": "text_raw", "model": None, "params": {"sources": ["description"]}},
    "text_ad": {"kind": "text_raw", "model": None, "params": {"sources": ["ad_transcript"]}},
}
CANDIDATES = {
    "animals": "an animal",
    "instrument": "a musical instrument",
    "toys": "a toy",
    "misc": "an everyday object",
}


def base_config(wd: Path) -> dict:
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    cfg.update(
        model_cache=str(wd / "models"),  # run-time only: where packaged models are assembled
        device="cpu",
        cache={"dir": "cachedir", "enabled": True},
        text_sources={"ad_transcript": "whisper_ad"},
        partial_decode="warn",
        missing_media="error",
        video_timeout_s=0,
    )
    cfg["probe"] = {"batch": "auto", "fingerprint": False}
    cfg["labels"]["sets"] = {
        "youtube": {
            "from": "label",
            "min_count": 2,
            "merge": {},
            "language": {"column": "language", "keep": ["en"]},
        },
        "zs": {
            "from": "zeroshot",
            "backend": "embedding",
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "strategy": "argmax",
            "candidates": CANDIDATES,
            "min_count": 1,
        },
        "spare": {"from": "label", "min_count": 3},  # planned only when a perturbation asks
    }
    cfg["classify"] = {
        "label_sets": ["youtube", "zs"],
        "feature_sets": ["sbert_desc:mean", "yamnet:mean", "text_desc:text"],
        "classifiers": ["ovr_linear_svc"],
        "options": {"ovr_linear_svc": {"C": 1.0}},
        "cv": {"folds": 2, "seed": 0, "protocol": "kfold"},
        "finetune": {
            "label_sets": ["youtube"],
            "feature_set": "text_desc:text",
            "params": {"model": "sentence-transformers/all-MiniLM-L6-v2", "epochs": 1},
        },
        "plugins": [],
    }
    cfg["fusion"] = {
        "plugins": [],
        "sets": {
            "fz": {
                "feature_sets": ["sbert_desc:mean", "yamnet:mean"],
                "classifier": "logreg",
                "kinds": ["early", "late-mean"],
                "options": {},
            }
        },
    }
    cfg["crossmodal"] = {
        "label_set": "youtube",
        "folds": 2,
        "seed": 0,
        "protocol": "kfold",
        "methods": ["ridge"],
        "losses": ["mse"],
        "rankings": ["cosine"],
        "hub_k": 10,
        "beta": 20.0,
        "params": {},
        "pairs": [{"source": "sbert_desc:mean", "target": "effnet:mean"}],
    }
    return cfg


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    sheet = small_sheet(per_label=3)
    sheet["language"] = "en"
    sheet["split"] = ["train", "test", "val"] * (len(sheet) // 3) + ["train"] * (len(sheet) % 3)
    wd = make_project(tmp_path_factory.mktemp("config_keys"), sheet, extractors=EXTRACTORS)
    cfg = base_config(wd)
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    edited = sheet.copy()
    edited.loc[0, "description"] += " (edited)"
    edited.to_csv(wd / "config" / "edited.tsv", sep="\t", index=False)
    snakemake(wd, env={"TRIMODAL_MODEL_CACHE": None}, timeout=1800)
    assert planned_jobs(wd) == {}, "the finished project plans nothing"
    return wd, cfg


#: schema key -> a change of the project's config that must plan work
PLANS = {
    "cache.across_versions": at("cache", "across_versions", value=True),
    "classify.classifiers": at("classify", "classifiers", value=["ovr_linear_svc", "logreg"]),
    "classify.cv.folds": at("classify", "cv", "folds", value=3),
    "classify.cv.protocol": at("classify", "cv", "protocol", value="split"),
    "classify.cv.seed": at("classify", "cv", "seed", value=1),
    "classify.feature_sets": at(
        "classify",
        "feature_sets",
        value=["sbert_desc:mean", "yamnet:mean", "text_desc:text", "effnet:mean"],
    ),  # fmt: skip
    "classify.finetune.feature_set": at(
        "classify", "finetune", "feature_set", value="text_ad:text"
    ),  # fmt: skip
    "classify.finetune.label_sets": at(
        "classify", "finetune", "label_sets", value=["youtube", "zs"]
    ),  # fmt: skip
    "classify.finetune.params": at("classify", "finetune", "params", "epochs", value=2),
    "classify.label_sets": at("classify", "label_sets", value=["youtube", "zs", "spare"]),
    "classify.options": at("classify", "options", "ovr_linear_svc", "C", value=0.5),
    "crossmodal.beta": at("crossmodal", "beta", value=10.0),
    "crossmodal.folds": at("crossmodal", "folds", value=3),
    "crossmodal.hub_k": at("crossmodal", "hub_k", value=5),
    "crossmodal.label_set": at("crossmodal", "label_set", value="zs"),
    "crossmodal.losses": patch("crossmodal", methods=["ridge", "mlp"], losses=["contrastive"]),
    "crossmodal.methods": at("crossmodal", "methods", value=["ridge", "cca"]),
    "crossmodal.pairs": at(
        "crossmodal",
        "pairs",
        value=[
            {"source": "sbert_desc:mean", "target": "effnet:mean"},
            {"source": "yamnet:mean", "target": "effnet:mean"},
        ],
    ),  # fmt: skip
    "crossmodal.pairs.[].source": lambda c: c["crossmodal"]["pairs"][0].update(
        source="yamnet:mean"
    ),
    "crossmodal.pairs.[].target": lambda c: c["crossmodal"]["pairs"][0].update(
        target="yamnet:mean"
    ),
    "crossmodal.params": at("crossmodal", "params", value={"ridge": {"alphas": [1.0, 10.0]}}),
    "crossmodal.protocol": at("crossmodal", "protocol", value="split"),
    "crossmodal.rankings": at("crossmodal", "rankings", value=["cosine", "csls"]),
    "crossmodal.seed": at("crossmodal", "seed", value=1),
    "device": at("device", value="auto"),  # no GPU here: auto resolves to cpu, but is asked
    "extractors.*.batch": at("extractors", "yamnet", "batch", value=1),
    "extractors.*.kind": patch(
        "extractors", "text_ad", kind="sbert", model="sentence-transformers/all-MiniLM-L6-v2"
    ),
    "extractors.*.model": at(
        "extractors", "sbert_desc", "model", value="sentence-transformers/all-mpnet-base-v2"
    ),  # fmt: skip
    "extractors.*.params": at("extractors", "yamnet", "params", "top_k", value=3),
    "fusion.sets.*.classifier": at("fusion", "sets", "fz", "classifier", value="ovr_linear_svc"),
    "fusion.sets.*.feature_sets": at(
        "fusion", "sets", "fz", "feature_sets", value=["sbert_desc:mean", "effnet:mean"]
    ),
    "fusion.sets.*.kinds": at("fusion", "sets", "fz", "kinds", value=["early", "late-vote"]),
    "fusion.sets.*.options": at("fusion", "sets", "fz", "options", value={"max_epochs": 20}),
    "labels.sets.*.backend": patch(
        "labels", "sets", "zs", backend="nli", model="sentence-transformers/all-MiniLM-L6-v2"
    ),  # fmt: skip
    "labels.sets.*.candidates": at(
        "labels", "sets", "zs", "candidates", "misc", value="a tool or a vehicle"
    ),  # fmt: skip
    "labels.sets.*.dominant": patch(
        "labels", "sets", "zs", strategy="drop_dominant", dominant="misc"
    ),  # fmt: skip
    "labels.sets.*.from": at("labels", "sets", "zs", value={"from": "label", "min_count": 2}),
    "labels.sets.*.language.column": at(
        "labels", "sets", "youtube", "language", "column", value="split"
    ),  # fmt: skip
    "labels.sets.*.language.extractor": at(
        "labels", "sets", "youtube", "language", value={"extractor": "whisper_ad", "keep": ["en"]}
    ),
    "labels.sets.*.language.keep": at(
        "labels", "sets", "youtube", "language", "keep", value=["en", "fr"]
    ),  # fmt: skip
    "labels.sets.*.language.min_probability": at(
        "labels",
        "sets",
        "youtube",
        "language",
        value={"extractor": "whisper_ad", "keep": ["en"], "min_probability": 0.0},
    ),  # fmt: skip
    "labels.sets.*.merge": at("labels", "sets", "youtube", "merge", value={"misc": "toys"}),
    "labels.sets.*.min_count": at("labels", "sets", "youtube", "min_count", value=3),
    "labels.sets.*.model": at(
        "labels", "sets", "zs", "model", value="sentence-transformers/all-mpnet-base-v2"
    ),  # fmt: skip
    "labels.sets.*.strategy": patch("labels", "sets", "zs", strategy="confident", threshold=0.3),
    "labels.sets.*.threshold": patch("labels", "sets", "zs", strategy="confident", threshold=0.6),
    "partial_decode": at("partial_decode", value="error"),
    "probe.batch": at("probe", "batch", value=1),
    "probe.fingerprint": at("probe", "fingerprint", value=True),
    "samples": at("samples", value="config/edited.tsv"),
    "shard": at("shard", value="1/2"),  # batches inside the shard's block: other batch jobs
    "text_sources": patch("text_sources", ad_transcript="text_desc"),
}


def resources_of(text: str, rule: str) -> str:
    """The dry run's resources line of the first job of `rule`."""
    m = re.search(rf"rule {rule}:.*?resources: ([^\n]*)", text, flags=re.S)
    return m.group(1) if m else ""


#: schema key -> (a change that must plan nothing, a check of its effect or the test that has
#: one); no change: a key that needs a plug-in module, whose named test changes it
RUN_TIME_ONLY = {
    "extractors.*.resources.mem_mb": (
        at("extractors", "yamnet", "resources", value={"mem_mb": 12345}),
        lambda text: "mem_mb=12345" in resources_of(text, "extract_yamnet"),
    ),
    "extractors.*.resources.threads": (
        at("extractors", "yamnet", "resources", value={"threads": 2}),
        lambda text: re.search(r"rule extract_yamnet:.*?threads: 2", text, flags=re.S),
    ),
    "extractors.*.resources.video_timeout_s": (
        at("extractors", "yamnet", "resources", value={"video_timeout_s": 77}),
        lambda text: "video_timeout_s=77" in resources_of(text, "extract_yamnet"),
    ),
    "extractors.*.resources.runtime_per_video_minute": (
        at("extractors", "yamnet", "resources", value={"runtime_per_video_minute": 500}),
        lambda text: (
            int(re.search(r"runtime=(\d+)", resources_of(text, "extract_yamnet"))[1]) > 2
        ),  # the estimate grows with the factor (2 min without any video)
    ),
    "video_timeout_s": (
        at("video_timeout_s", value=55),
        lambda text: "video_timeout_s=55" in resources_of(text, "extract_yamnet"),
    ),
    "cache.dir": (at("cache", "dir", value="elsewhere"), "cachedir"),
    "cache.enabled": (at("cache", "enabled", value=False), "cache disabled"),
    "model_cache": (at("model_cache", value="/nonexistent/models"), "model cache"),
    "missing_media": (
        at("missing_media", value="skip"),
        "tests/workflow/test_queryd_sheet_workflow.py::test_skipped_rows_segments_and_language_through_the_workflow",
    ),
    "classify.plugins": (
        None,  # a module to import: its code is part of the classify jobs' code hash
        "tests/architecture/test_architecture.py::test_a_plugin_fusion_kind_and_classifier_are_one_module_plus_one_config_entry",
    ),
    "fusion.plugins": (
        None,
        "tests/architecture/test_architecture.py::test_a_plugin_fusion_kind_and_classifier_are_one_module_plus_one_config_entry",
    ),
    "extractors.*.modality": (
        None,  # only for a plug-in kind that declares none (a built-in kind's is fixed)
        "tests/workflow/test_config_check.py::test_a_plug_in_kind_without_a_modality_must_name_one",
    ),
}

#: keys that only hold other keys (each of theirs has its own entry)
CONTAINERS = {
    "cache", "classify", "classify.cv", "classify.finetune", "clip_stage", "crossmodal",
    "crossmodal.pairs", "extractors", "extractors.*.resources", "fusion", "fusion.sets",
    "labels", "labels.sets", "labels.sets.*.language", "probe",
}  # fmt: skip


def test_every_schema_key_has_a_check():
    from tests.crossmodal.test_clip_stage import CLIP_STAGE_PLANS

    covered = set(PLANS) | set(RUN_TIME_ONLY) | CONTAINERS | {f"clip_stage.{k}"
                                                              for k in CLIP_STAGE_PLANS}  # fmt: skip
    keys = {dotted(k) for k in schema_keys()}
    assert sorted(keys - covered) == [], "schema keys without a perturbation check"
    assert sorted(covered - keys) == [], "checks of keys the schema no longer has"


def test_the_named_effect_tests_exist():
    for _, effect in RUN_TIME_ONLY.values():
        if isinstance(effect, str) and "::" in effect:
            path, name = effect.split("::")
            assert f"def {name}(" in (ROOT / path).read_text(), effect


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(PLANS))
def test_a_changed_key_plans_work(project, key):
    wd, cfg = project
    jobs, _ = perturbed(wd, cfg, PLANS[key])
    assert jobs, f"{key}: changing it plans nothing, so nothing reads it"


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(k for k, (change, _) in RUN_TIME_ONLY.items() if change))
def test_a_run_time_key_reruns_nothing_and_has_its_effect(project, key):
    wd, cfg = project
    change, effect = RUN_TIME_ONLY[key]
    jobs, _ = perturbed(wd, cfg, change)
    assert jobs == {}, f"{key} is run-time only, yet changing it plans {jobs}"
    if callable(effect):  # visible in the plan of every job (--forceall)
        _, text = perturbed(wd, cfg, change, "--forceall")
        assert effect(text), f"{key}: its effect is not in the plan"
    elif effect == "cachedir":  # the per-video results were kept where cache.dir says
        assert list((wd / "cachedir").rglob("*.h5"))
    elif effect == "cache disabled":
        from trimodal.store.reuse import cache_dir

        assert cache_dir({"cache": {"enabled": False, "dir": "x"}}) is None
        assert cache_dir(cfg) == "cachedir"
    elif effect == "model cache":  # the run assembled the packaged YAMNet where it said
        assert (wd / "models" / "yamnet-w8a8-onnx").is_dir()
