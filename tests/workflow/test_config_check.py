"""Configuration mistakes are caught before any job, each message naming its key path.

Most cases edit a copy of the shipped config/config.yaml and call check_config; two run a real
`snakemake --dry-run` in a temporary project and check that it stops before any job with the
message. docs/reliability.md ("Configuration mistakes") lists the cases and outcomes.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tests.workflow_project import ROOT, SMALL_EXTRACTORS, make_project, snakemake
from trimodal.extractors.base import POOLED, REGISTRY, Param, get_extractor_class
from trimodal.learn.classifiers import CLASSIFIERS
from trimodal.stages import config_check
from trimodal.stages.config_check import check_config, format_problems

SHIPPED = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture
def cfg() -> dict:
    return copy.deepcopy(SHIPPED)


def problems_of(config: dict, **kw) -> list[str]:
    return check_config(config, **kw)


def one_problem(config: dict, path: str, *fragments: str) -> str:
    """The single problem reported at `path`; it must contain every fragment."""
    problems = problems_of(config)
    at = [p for p in problems if p.startswith(path + ":")]
    assert len(at) == 1, (path, problems)
    for f in fragments:
        assert f in at[0], (f, at[0])
    return at[0]


# --------------------------------------------------------------------------- valid configs


def test_shipped_config_has_no_problem(cfg):
    assert problems_of(cfg) == []


def test_the_commented_extractors_of_the_shipped_config_pass(cfg):
    cfg["extractors"].update(
        cuts={"kind": "cuts", "modality": "video", "model": None,
              "params": {"sample_fps": 6.0, "short_side": 144, "threshold": 27.0,
                         "min_scene_len_s": 0.5}},
        whisper_soundtrack={"kind": "whisper", "modality": "audio", "model": "tiny.en",
                            "params": {"source": "soundtrack", "vad": True, "beam_size": 1,
                                       "compute_type": "int8"}},
        vggish={"kind": "vggish", "modality": "audio", "model": "path/to/vggish.pth",
                "params": {"backend": "torch", "source": "soundtrack", "hop": 0.96}},
        sbert_mpnet_description={"kind": "sbert", "modality": "text",
                                 "model": "sentence-transformers/all-mpnet-base-v2",
                                 "params": {"sources": ["description"], "batch_size": 16}},
    )  # fmt: skip
    cfg["classify"]["feature_sets"].append("cuts:descriptors")
    assert problems_of(cfg) == []


def test_the_configs_the_workflow_tests_write_pass(tmp_path):
    from tests.workflow.test_batches import batched_extractors

    sheet = pd.DataFrame({"video_id": ["v1"], "video": ["v1.mp4"]})
    for name, extractors in (("plain", None), ("batched", batched_extractors())):
        wd = make_project(tmp_path / name, sheet, extractors)
        config = yaml.safe_load((wd / "config" / "config.yaml").read_text())
        assert problems_of(config) == [], name
        assert problems_of({**config, "shard": "1/2", "video_timeout_s": 1}) == [], name


def test_batch_auto_probe_batch_and_cache_are_allowed(cfg):
    cfg["extractors"]["effnet"]["batch"] = "auto"
    cfg["extractors"]["yamnet"]["batch"] = 50
    cfg["probe"]["batch"] = "auto"
    cfg["cache"] = {"dir": "resources/cache", "enabled": True}
    assert problems_of(cfg) == []
    cfg["extractors"]["effnet"]["batch"] = 0
    cfg["probe"]["batch"] = "fast"
    problems = problems_of(cfg)
    assert len(problems) == 2, problems
    one_problem(cfg, "extractors.effnet.batch", "0", "integer >= 1, or auto")
    one_problem(cfg, "probe.batch", "'fast'", "integer >= 1, or auto")


def test_late_fusion_of_a_text_set_is_fine(cfg):
    fusion = cfg["fusion"]["sets"]["audio_video_text"]
    fusion["feature_sets"][2] = "text_description:text"
    fusion["kinds"] = ["late-mean", "late-vote"]
    assert problems_of(cfg) == []


# --------------------------------------------------------------------------- misspelled keys


@pytest.mark.parametrize(
    "where, key, path, suggestion",
    [
        (("extractors", "effnet"), "resource", "extractors.effnet.resource", "resources"),
        (("extractors", "effnet"), "bacth", "extractors.effnet.bacth", "batch"),
        ((), "fuson", "fuson", "fusion"),
        ((), "video_timeout", "video_timeout", "video_timeout_s"),
        (
            ("extractors", "yolo_person", "resources"),
            "video_timeout",
            "extractors.yolo_person.resources.video_timeout",
            "video_timeout_s",
        ),
        (("classify", "cv"), "fold", "classify.cv.fold", "folds"),
        (("labels", "sets", "zeroshot"), "stratgy", "labels.sets.zeroshot.stratgy", "strategy"),
    ],
)
def test_misspelled_key_is_an_error_naming_its_path(cfg, where, key, path, suggestion):
    node = cfg
    for w in where:
        node = node[w]
    node[key] = 1
    msg = one_problem(cfg, path, "unknown key", f"did you mean {suggestion!r}", "allowed here:")
    assert suggestion in msg.split("allowed here:")[1]


# --------------------------------------------------------------------------- extractor params


@pytest.mark.parametrize("fps", [-1, 0])
def test_fps_must_be_positive(cfg, fps):
    cfg["extractors"]["effnet"]["params"]["fps"] = fps
    one_problem(cfg, "extractors.effnet.params.fps", "> 0", f"got {fps}")


def test_yamnet_source_must_be_one_of_its_choices(cfg):
    cfg["extractors"]["yamnet"]["params"]["source"] = "soundtrak"
    one_problem(
        cfg,
        "extractors.yamnet.params.source",
        "'soundtrak'",
        "one of: soundtrack, ad_audio",
        "did you mean 'soundtrack'",
    )


def test_unknown_param_names_the_known_ones(cfg):
    cfg["extractors"]["effnet"]["params"]["fpss"] = 2
    one_problem(
        cfg,
        "extractors.effnet.params.fpss",
        "unknown parameter",
        "backend, batch_size, fps, image_size, max_frames",
        "did you mean 'fps'",
    )


def test_param_of_the_wrong_type(cfg):
    cfg["extractors"]["yolo_person"]["params"]["batch_size"] = "16"
    cfg["extractors"]["whisper_ad"]["params"]["vad"] = "yes"
    one_problem(cfg, "extractors.yolo_person.params.batch_size", "an integer", "'16'")
    one_problem(cfg, "extractors.whisper_ad.params.vad", "true or false", "'yes'")


def test_unknown_text_source(cfg):
    cfg["extractors"]["sbert_minilm_description"]["params"]["sources"] = ["descripton"]
    one_problem(
        cfg,
        "extractors.sbert_minilm_description.params.sources[0]",
        "unknown text source 'descripton'",
        "known: description, all, ad_transcript",
    )


def test_unknown_extractor_kind(cfg):
    cfg["extractors"]["effnet"]["kind"] = "frame_embeding"
    one_problem(
        cfg,
        "extractors.effnet.kind",
        "unknown extractor kind 'frame_embeding'",
        "did you mean 'frame_embedding'",
        "clip_video, cuts, frame_embedding",
    )


def test_modality_inconsistent_with_the_kind(cfg):
    cfg["extractors"]["yamnet"]["modality"] = "video"
    one_problem(cfg, "extractors.yamnet.modality", "'video'", "extracts audio", "leave it out")


def test_modality_comes_from_the_kind(cfg):
    """The shipped config names no modality: each kind declares its own."""
    from trimodal.stages.config_check import fill_modalities

    assert not any("modality" in spec for spec in cfg["extractors"].values())
    fill_modalities(cfg)
    assert cfg["extractors"]["yamnet"]["modality"] == "audio"
    assert cfg["extractors"]["effnet"]["modality"] == "video"
    assert cfg["extractors"]["text_description"]["modality"] == "text"


def test_a_plug_in_kind_without_a_modality_must_name_one(cfg, tmp_path, monkeypatch):
    (tmp_path / "anon_plugin.py").write_text(
        "from trimodal.extractors.base import Extractor\n"
        "class Anon(Extractor):\n"
        "    name = 'anon'\n"
        "    def extract(self, item): ...\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg["extractors"]["anon"] = {"kind": "anon_plugin:Anon", "model": None, "params": {}}
    one_problem(cfg, "extractors.anon", "declares no modality", "add modality")
    cfg["extractors"]["anon"]["modality"] = "text"
    assert not [p for p in check_config(cfg) if "extractors.anon" in p]


def test_text_source_mapping_to_an_unknown_extractor_or_one_without_text(cfg):
    cfg["text_sources"] = {"ad_transcript": "whisper_adx", "frames": "effnet"}
    one_problem(cfg, "text_sources.ad_transcript", "'whisper_adx' is not a configured extractor",
                "did you mean 'whisper_ad'")  # fmt: skip
    one_problem(cfg, "text_sources.frames", "no text output", "whisper_ad")


# --------------------------------------------------------------------------- references


def test_classifier_typo(cfg):
    cfg["classify"]["classifiers"] = ["ovr_linear_scv", "ovr_linear_svc_rebalanced"]
    one_problem(
        cfg,
        "classify.classifiers[0]",
        "unknown classifier 'ovr_linear_scv'",
        "did you mean 'ovr_linear_svc'",
        ", ".join(sorted(CLASSIFIERS)),
        "ovr_linear_svc_rebalanced",
    )


def test_classifier_option_with_an_unknown_base(cfg):
    cfg["classify"]["options"]["ovr_linear_svc_rebalanced"]["base"] = "ovr_linear_svm"
    one_problem(cfg, "classify.options.ovr_linear_svc_rebalanced.base", "'ovr_linear_svm'",
                "known: " + ", ".join(sorted(CLASSIFIERS)))  # fmt: skip


def test_fusion_classifier_svm(cfg):
    cfg["fusion"]["sets"]["audio_video_text"]["classifier"] = "svm"
    one_problem(
        cfg,
        "fusion.sets.audio_video_text.classifier",
        "unknown classifier 'svm'",
        "ovr_linear_svc",
        "svc",
    )


def test_fusion_kind_typo(cfg):
    cfg["fusion"]["sets"]["audio_video_text"]["kinds"] = ["early", "late-stak"]
    one_problem(cfg, "fusion.sets.audio_video_text.kinds[1]", "'late-stak'", "'late-stack'")


def test_pooling_typo(cfg):
    cfg["classify"]["feature_sets"][0] = "sbert_minilm_description:meen"
    one_problem(
        cfg,
        "classify.feature_sets[0]",
        "has no pooling 'meen'",
        "did you mean 'mean'",
        "it produces: mean, max, attn, mean_max, text",
    )


def test_feature_set_naming_an_unknown_extractor(cfg):
    cfg["classify"]["feature_sets"].append("effnett:mean")
    cfg["crossmodal"]["pairs"][0]["target"] = "sbert_minilm:mean"
    n = len(cfg["classify"]["feature_sets"]) - 1
    one_problem(cfg, f"classify.feature_sets[{n}]", "'effnett'", "did you mean 'effnet'",
                "configured: effnet, yolo_person")  # fmt: skip
    one_problem(cfg, "crossmodal.pairs[0].target", "'sbert_minilm'", "not configured")


def test_early_fusion_of_a_text_set(cfg):
    cfg["fusion"]["sets"]["audio_video_text"]["feature_sets"][2] = "text_description:text"
    one_problem(
        cfg,
        "fusion.sets.audio_video_text.feature_sets[2]",
        "'text_description:text' is raw text",
        "early and intermediate and late-stack fusion needs pooled vectors",
        "late-mean/late-vote only",
    )


def test_crossmodal_pair_of_raw_text(cfg):
    cfg["crossmodal"]["pairs"][1]["source"] = "text_description:text"
    one_problem(cfg, "crossmodal.pairs[1].source", "raw text", "cross-modal")


def test_unknown_label_sets(cfg):
    cfg["classify"]["label_sets"] = ["youtube", "youtub_merged"]
    cfg["classify"]["finetune"]["label_sets"] = ["zeroshoot"]
    cfg["crossmodal"]["label_set"] = "Youtube"
    defined = "defined in labels.sets: youtube, zeroshot"
    one_problem(cfg, "classify.label_sets[1]", "'youtub_merged'", defined)
    one_problem(cfg, "classify.finetune.label_sets[0]", "'zeroshoot'", "did you mean", defined)
    one_problem(cfg, "crossmodal.label_set", "'Youtube'", defined)


def test_finetune_needs_a_text_feature_set(cfg):
    cfg["classify"]["finetune"]["feature_set"] = "sbert_minilm_description:mean"
    one_problem(cfg, "classify.finetune.feature_set", "reads raw text", "':text'")


def test_label_set_from_label_needs_the_label_column(cfg):
    problems = problems_of(cfg, sheet_columns=["video_id", "video", "description"])
    assert problems == [
        "labels.sets.youtube.from: 'label' needs a label column in the sample sheet; it has: "
        "video_id, video, description"
    ]


def test_language_filter_naming_an_unknown_extractor(cfg):
    cfg["labels"]["sets"]["youtube"]["language"] = {"extractor": "whisper_soundtrack"}
    one_problem(cfg, "labels.sets.youtube.language.extractor", "'whisper_soundtrack'",
                "configured:")  # fmt: skip


# --------------------------------------------------------------------------- offline models


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1 with an empty Hugging Face cache; returns the cache folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(config_check, "hf_cache_dir", lambda: cache)
    return cache


def test_model_name_typo_offline_is_one_clear_error(cfg, offline):
    cfg["extractors"]["sbert_minilm_description"]["model"] = (
        "sentence-transformers/all-MiniLM-L6-v3"
    )
    one_problem(
        cfg,
        "extractors.sbert_minilm_description.model",
        "'sentence-transformers/all-MiniLM-L6-v3'",
        "extractor 'sbert_minilm_description' (kind sbert)",
        "cannot be found offline",
        "did you mean 'sentence-transformers/all-MiniLM-L6-v2'",
        "local path",
        "packaged name",
        "HF_HUB_OFFLINE=0",
    )


def test_a_cached_or_local_model_resolves_offline(cfg, offline, tmp_path, monkeypatch):
    ex = cfg["extractors"]
    ex["sbert_minilm_description"]["model"] = "acme/my-sbert"
    ex["whisper_ad"]["model"] = "small"  # faster-whisper's Systran/faster-whisper-small
    local = tmp_path / "local-model"
    local.mkdir()
    ex["sbert_minilm_ad"]["model"] = str(local)
    paths = sorted(p.split(":")[0] for p in problems_of(cfg))
    assert paths == ["extractors.sbert_minilm_description.model", "extractors.whisper_ad.model"]
    for repo in ("acme/my-sbert", "Systran/faster-whisper-small"):
        (offline / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123").mkdir(
            parents=True
        )
    assert problems_of(cfg) == []
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # online: the library downloads it
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    ex["sbert_minilm_description"]["model"] = "acme/not-cached"
    assert problems_of(cfg) == []


def test_zero_shot_and_finetune_models_are_checked_offline(cfg, offline):
    cfg["labels"]["sets"]["zeroshot"]["model"] = "facebook/bart-large-mnlii"
    cfg["labels"]["sets"]["zeroshot"]["backend"] = "nli"
    cfg["classify"]["finetune"]["params"]["model"] = "distilbert-base-uncased"
    one_problem(cfg, "labels.sets.zeroshot.model", "label set 'zeroshot'", "HF_HUB_OFFLINE=0")
    one_problem(cfg, "classify.finetune.params.model", "'distilbert-base-uncased'")


# --------------------------------------------------------------------------- all at once


def test_every_problem_is_reported_at_once(cfg):
    cfg["fuson"] = {}
    cfg["extractors"]["effnet"]["params"]["fps"] = 0
    cfg["extractors"]["yamnet"]["params"]["source"] = "soundtrak"
    cfg["classify"]["classifiers"] = ["ovr_linear_scv"]
    cfg["classify"]["feature_sets"][0] = "sbert_minilm_description:meen"
    problems = problems_of(cfg)
    assert len(problems) == 5, problems
    message = format_problems(problems)
    assert message.startswith("the configuration has 5 problem(s):\n  ")
    assert all(p in message for p in problems)


def test_a_config_of_the_wrong_shape_gives_problems_not_a_crash(cfg):
    cfg["extractors"]["effnet"] = ["not", "a", "mapping"]
    cfg["classify"]["feature_sets"] = "effnet:mean"
    cfg["fusion"]["sets"]["audio_video_text"]["kinds"] = "early"
    cfg["labels"] = {"sets": []}
    problems = problems_of(cfg)
    for path in ("extractors.effnet", "classify.feature_sets", "labels.sets",
                 "fusion.sets.audio_video_text.kinds"):  # fmt: skip
        assert any(p.startswith(path + ":") for p in problems), (path, problems)


# --------------------------------------------------------------------------- declarations


def test_the_config_check_reads_names_without_loading_scikit_learn():
    """The classifier registry is read at every DAG build: its names cost no sklearn import."""
    import subprocess
    import sys

    code = (
        "import sys; from trimodal.learn.classifiers import CLASSIFIERS; "
        "from trimodal.crossmodal.methods import CROSSMODAL_METHODS; "
        "print(len(CLASSIFIERS), len(CROSSMODAL_METHODS), 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n_classifiers, n_methods, sklearn = out.stdout.split()
    assert int(n_classifiers) >= 10 and int(n_methods) >= 4 and sklearn == "False"


def test_crossmodal_method_names_come_from_the_registry(cfg):
    from trimodal.crossmodal.methods import CROSSMODAL_METHODS
    from trimodal.stages.config_check import SCHEMA, load_schema

    cm = load_schema(SCHEMA)["properties"]["crossmodal"]["properties"]
    assert cm["methods"]["items"]["enum"] == list(CROSSMODAL_METHODS)
    assert cm["params"]["propertyNames"]["enum"] == list(CROSSMODAL_METHODS)
    cfg["crossmodal"]["methods"] = ["ridge", "ccca"]
    one_problem(cfg, "crossmodal.methods[1]", "'ccca' is not one of", "'cca'")


def test_finetune_in_the_vector_classifier_list_is_refused(cfg):
    cfg["classify"]["classifiers"].append("finetune")
    one_problem(cfg, "classify.classifiers[2]", "'finetune' reads raw text", "classify.finetune")


def test_pooled_names_equal_what_pool_all_stores():
    import numpy as np

    from trimodal.extractors.pooling import pool_all

    assert tuple(pool_all(np.ones((3, 2)))) == POOLED


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_declared_defaults_pass_their_own_declaration(kind):
    cls = get_extractor_class(kind)
    assert cls.PARAMS and cls.POOLINGS, kind
    assert all(isinstance(p, Param) for p in cls.PARAMS.values())
    defaults = {k: p.default for k, p in cls.PARAMS.items()}
    assert cls.check_params(defaults) == [], kind
    assert cls.with_defaults({}) == defaults


def test_param_checks_bounds_types_and_choices():
    p = Param(float, 1.0, gt=0, le=10)
    assert p.check(2) is None and p.check(10) is None and p.check(None) is None
    assert p.check(0) and p.check(11) and p.check(True) and p.check(float("nan"))
    assert Param(int, 1).check(1.5) == "must be an integer, got 1.5"
    strings = Param((list, str), ["a"], items=str)
    assert strings.check("a") is None and strings.check(["a", "b"]) is None
    assert strings.check([1]) and strings.check(3)
    assert Param(str, "a", choices=("a", "b")).check("c") == "'c' is not one of: a, b"


def test_importing_every_extractor_module_stays_light():
    """The workflow imports them at DAG-build time: no deep-learning library at module level."""
    modules = sorted({REGISTRY[k].split(":")[0] for k in REGISTRY})
    code = (
        "import sys\n"
        f"for m in {modules!r}: __import__(m)\n"
        "heavy = ('torch', 'transformers', 'ultralytics', 'onnxruntime', 'tensorflow',\n"
        "         'sentence_transformers', 'faster_whisper', 'sklearn')\n"
        "print(sorted(h for h in heavy if h in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# --------------------------------------------------------------------------- real dry runs


def _stopped_before_any_job(wd, proc) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "the configuration has" in out and "Traceback" not in out
    assert not (wd / "results").exists() and not (wd / "logs").exists()
    return out


@pytest.mark.slow
def test_workflow_stops_before_any_job_listing_every_config_mistake(tmp_path):
    sheet = pd.DataFrame({"video_id": ["v1"], "video": [str(ROOT / "Snakefile")], "label": ["x"]})
    extractors = copy.deepcopy(SMALL_EXTRACTORS)
    extractors["effnet"]["params"]["fps"] = 0
    extractors["effnet"]["bacth"] = 4
    wd = make_project(tmp_path, sheet, extractors, feature_sets=("sbert_desc:meen",))
    path = wd / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["classify"]["classifiers"] = ["ovr_linear_scv"]
    path.write_text(yaml.safe_dump(config))
    out = _stopped_before_any_job(wd, snakemake(wd, "--dry-run", check=False))
    assert "the configuration has 4 problem(s)" in out
    for fragment in (
        "extractors.effnet.bacth: unknown key (did you mean 'batch'?)",
        "extractors.effnet.params.fps: must be a number > 0, got 0",
        "classify.feature_sets[0]: 'sbert_desc:meen'",
        "classify.classifiers[0]: unknown classifier 'ovr_linear_scv'",
    ):
        assert fragment in out, fragment


@pytest.mark.slow
def test_workflow_stops_on_a_model_that_is_not_available_offline(tmp_path):
    sheet = pd.DataFrame({"video_id": ["v1"], "video": [str(ROOT / "Snakefile")], "label": ["x"]})
    extractors = copy.deepcopy(SMALL_EXTRACTORS)
    extractors["sbert_desc"]["model"] = "sentence-transformers/all-MiniLM-L6-v3"
    wd = make_project(tmp_path, sheet, extractors)
    empty_cache = tmp_path / "hf-cache"
    empty_cache.mkdir()
    proc = snakemake(wd, "--dry-run", check=False, env={"HF_HUB_CACHE": str(empty_cache)})
    out = _stopped_before_any_job(wd, proc)
    assert "the configuration has 1 problem(s)" in out
    assert "extractors.sbert_desc.model: model 'sentence-transformers/all-MiniLM-L6-v3'" in out
    assert "HF_HUB_OFFLINE=0" in out


def test_a_zero_shot_set_embedded_like_a_feature_set_is_flagged_not_stopped(cfg):
    from trimodal.stages.config_check import circular_pairs, circular_warnings

    assert circular_warnings(cfg) == []  # the shipped config pairs no such label set
    cfg["labels"]["sets"]["zeroshot"]["model"] = "sentence-transformers/all-MiniLM-L6-v2"
    assert circular_pairs(cfg)["zeroshot"] == ["sbert_minilm_description"]
    (warning,) = circular_warnings(cfg)
    assert "labels.sets.zeroshot" in warning and "sbert_minilm_description:mean" in warning
    assert problems_of(cfg) == []  # a warning, not a stop


def test_the_report_marks_circular_rows():
    from trimodal.report.summary import _is_circular

    assert _is_circular("sbert_minilm_description:mean", ["sbert_minilm_description"])
    assert _is_circular("yamnet:mean+sbert_minilm_description:mean", ["sbert_minilm_description"])
    assert not _is_circular("sbert_minilm_ad:mean", ["sbert_minilm_description"])


# --------------------------------------------------------------------------- removed keys
# (every key the schema accepts is perturbed in tests/workflow/test_config_keys.py)


@pytest.mark.parametrize(
    "where, key", [(("probe",), "long_video_s"), (("crossmodal",), "label_column"), ((), "report")]
)
def test_keys_that_nothing_read_are_no_longer_accepted(cfg, where, key):
    node = cfg
    for w in where:
        node = node.setdefault(w, {})
    node[key] = {"dir": "x"} if key == "report" else 1
    assert any(key in p for p in problems_of(cfg))


def test_the_schema_fills_the_defaults_the_workflow_reads(cfg):
    """Keys left out get their `default:` from the schema when the workflow validates the
    config (snakemake's validate), so the rules read them without a fallback of their own."""
    from snakemake.utils import validate

    for key in ("model_cache", "device", "video_timeout_s", "probe"):
        cfg.pop(key, None)
    for spec in cfg["extractors"].values():
        spec.pop("batch", None)
        spec.pop("params", None)
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    assert cfg["model_cache"] == "resources/models" and cfg["device"] == "auto"
    assert cfg["video_timeout_s"] == 0
    assert cfg["probe"] == {"fingerprint": False, "batch": "auto"}
    assert all(s["batch"] == "auto" and s["params"] == {} for s in cfg["extractors"].values())


def test_a_searched_option_is_checked_by_its_short_name(cfg):
    cfg["classify"]["options"]["ovr_linear_svc"] = {"base": "ovr_linear_svc", "search": {"C": [1]}}
    assert problems_of(cfg) == []
    cfg["classify"]["options"]["ovr_linear_svc"]["search"] = {"CC": [1]}
    (problem,) = problems_of(cfg)
    assert "search.CC: not an option of 'ovr_linear_svc' (did you mean 'C'?)" in problem
