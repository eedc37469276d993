"""The whole configuration checked before any job runs: every problem at once, by key path.

The JSON schema (workflow/schemas/config.schema.yaml) closes every object, so a misspelled key
is an error; this module reports *all* schema errors (Snakemake's ``validate`` stops at the
first) and then what a schema cannot know: each extractor's params against its declaration
(``Extractor.PARAMS``), and every name that refers to another part of the configuration —
extractor kinds, feature sets and their poolings, classifiers, label sets, text sources — and
whether each model can be found when the Hugging Face Hub is offline. Each message names the key
path and the allowed values, so a mistake costs one dry run, not a run of failed jobs.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from trimodal.crossmodal.methods import CROSSMODAL_METHODS, LOSSES
from trimodal.crossmodal.retrieval import RANKING_CHOICES
from trimodal.learn.classifiers import CLASSIFIERS, vector_classifiers

#: the schema next to the workflow this package belongs to (common.smk passes its own)
SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"

DEFAULT_FUSION_KINDS = ("early", "late-stack")
#: fusion kinds that build their classifier by name (a classify.options variant is not one)
BY_NAME_FUSION_KINDS = {"early", "late-stack"}
#: text source names every text extractor knows besides config["text_sources"]
BUILTIN_TEXT_SOURCES = ("description", "all")


def check_config(
    config: dict,
    sheet_columns=None,
    schema: str | os.PathLike | None = SCHEMA,
    sheet_labels=None,
) -> list[str]:
    """Every problem of `config`, each "key.path: what is wrong; what is allowed".

    sheet_columns: the sample sheet's header as written (near-miss names get a did-you-mean);
    sheet_labels: the labels in its label column (merge entries must name one of them).
    """
    problems = schema_problems(config, schema) if schema else []
    if isinstance(config, dict):
        checker = _Checker(config, sheet_columns)
        checker.sheet_labels = None if sheet_labels is None else set(sheet_labels)
        problems += checker.run()
    return problems


def sheet_problems(config: dict, sheet) -> list[str]:
    """The problems of a checked config that only the sample sheet shows (common.smk calls it
    after loading the sheet): the split protocol (``classify.cv.protocol`` or
    ``crossmodal.protocol: split``) needs a ``split`` column with train and test rows; a label
    set's ``language.column`` must be a column of the sheet."""
    problems = []
    columns = [c for c in sheet.columns if c != "description_flag"]
    wants = [
        key
        for key, section in (
            ("classify.cv.protocol", _dict(_dict(config.get("classify")).get("cv"))),
            ("crossmodal.protocol", _dict(config.get("crossmodal"))),
        )
        if section.get("protocol") == "split"
    ]
    if wants and "split" not in columns:
        problems += [
            f"{key}: split needs a split column (train/val/test) in the sample sheet; "
            f"it has: {_allowed(columns)}"
            for key in wants
        ]
    elif wants:
        counts = sheet["split"].astype(str).str.strip().value_counts()
        missing = [s for s in ("train", "test") if not counts.get(s, 0)]
        if missing:
            have = ", ".join(f"{k or 'empty'}: {v}" for k, v in counts.items())
            problems += [
                f"{key}: split needs train and test rows in the sheet's split column; "
                f"it has no {' and no '.join(missing)} rows ({have})"
                for key in wants
            ]
    for name, spec in _dict(_dict(config.get("labels")).get("sets")).items():
        column = _dict(_dict(spec).get("language")).get("column")
        if isinstance(column, str) and column not in columns:
            problems.append(
                f"{key_path('labels', 'sets', name, 'language', 'column')}: {column!r} is not "
                f"a column of the sample sheet; it has: {_allowed(columns)}"
            )
    return problems


def fill_modalities(config: dict) -> None:
    """Give each extractor of a checked config the modality its kind declares (the config
    names one only for a kind that declares none)."""
    from trimodal.extractors.base import get_extractor_class

    for spec in config["extractors"].values():
        if not spec.get("modality"):
            spec["modality"] = get_extractor_class(spec["kind"]).modality


def format_problems(problems: list[str]) -> str:
    """One message listing every problem (what the workflow stops with)."""
    return f"the configuration has {len(problems)} problem(s):\n  " + "\n  ".join(problems)


def key_path(*parts) -> str:
    """extractors.effnet.params.fps, classify.feature_sets[2]; odd keys are quoted."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif str(p).replace("_", "a").replace("-", "a").isalnum():
            out += f".{p}" if out else str(p)
        else:
            out += f"[{str(p)!r}]"
    return out or "(top level)"


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed(options) -> str:
    return ", ".join(str(o) for o in options) if options else "(none)"


# --------------------------------------------------------------------------- schema


#: the registries a schema node names with ``x-registry: <name>``: its enum is their keys
REGISTRIES = {
    "crossmodal_methods": lambda: list(CROSSMODAL_METHODS),
    "crossmodal_losses": lambda: list(LOSSES),
    "crossmodal_rankings": lambda: list(RANKING_CHOICES),
}


def load_schema(schema: str | os.PathLike) -> dict:
    """The config schema, each ``x-registry`` node given the enum of that registry's names, so
    the schema never spells a name the package does not register (or misses one it does)."""
    import yaml

    def fill(node):
        if isinstance(node, dict):
            out = {k: fill(v) for k, v in node.items()}
            if "x-registry" in out:
                out["enum"] = REGISTRIES[out["x-registry"]]()
            return out
        return [fill(v) for v in node] if isinstance(node, list) else node

    with open(schema) as f:
        return fill(yaml.safe_load(f))


def schema_problems(config: Any, schema: str | os.PathLike) -> list[str]:
    """All JSON-schema errors of `config`, one line each, unknown keys with the allowed ones."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema(schema))
    out = []
    for e in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.path]):
        path = list(e.absolute_path)
        if e.validator == "additionalProperties" and e.validator_value is False:
            allowed = sorted(e.schema.get("properties", {}))
            for key in sorted(set(e.instance) - set(allowed), key=str):
                out.append(
                    f"{key_path(*path, key)}: unknown key{_did_you_mean(key, allowed)}; "
                    f"allowed here: {_allowed(allowed)}"
                )
        elif e.validator == "required":
            out.append(f"{key_path(*path)}: {e.message}")
        elif e.validator in ("anyOf", "oneOf"):
            what = e.schema.get("description") or "; ".join(c.message for c in e.context)
            out.append(f"{key_path(*path)}: {e.instance!r} is not allowed: {what}")
        elif "propertyNames" in e.schema_path:
            out.append(f"{key_path(*path)}: bad name {e.instance!r}: {e.message}")
        else:
            out.append(f"{key_path(*path)}: {e.message}")
    return out


# --------------------------------------------------------------------------- references


def _dict(x) -> dict:
    return x if isinstance(x, dict) else {}


def _list(x) -> list:
    return x if isinstance(x, list) else []


OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def hf_offline() -> list[str]:
    """The variables that tell the Hugging Face libraries not to reach the network (set)."""
    return [
        v
        for v in OFFLINE_VARIABLES
        if os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    ]


def hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def in_hf_cache(repo: str) -> bool:
    """Whether the local Hugging Face cache holds a snapshot of `repo`."""
    snapshots = hf_cache_dir() / f"models--{repo.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def offline_model_problem(path: str, model: str | None, hub_repo, owner: str) -> str | None:
    """The fix for a model that cannot be found with the Hub offline, or None.

    A model resolves offline when it is a local path, a packaged name (trimodal.plumbing.models) or a
    repository in the Hugging Face cache; `hub_repo(model)` maps it to the repository its
    library would download (None: it does not come from the Hub, nothing to check).
    """
    from trimodal.plumbing.models import PACKAGED, is_packaged

    offline = hf_offline()
    if not model or not isinstance(model, str) or not offline:
        return None
    if Path(model).expanduser().exists() or is_packaged(model):
        return None
    repo = hub_repo(model)
    if repo is None or in_hf_cache(repo):
        return None
    return (
        f"{path}: model {model!r} of {owner} cannot be found offline "
        f"({' '.join(v + '=1' for v in offline)}): it is not a local path, not a packaged "
        f"model{_did_you_mean(model, PACKAGED)} and not in the Hugging Face cache "
        f"({hf_cache_dir()}). Fix: give a local path, a packaged name "
        f"({_allowed(sorted(PACKAGED))}), or run once with network access "
        f"({' '.join(v + '=0' for v in offline)}) to download it"
    )


#: make_classifier's own keywords (the rest of an option entry goes to the estimator)
_BUILD_KEYS = ("seed", "text", "scale", "class_weight", "proba", "rebalance")
#: the nested search's keys (trimodal.learn.tuning): a space of estimator options, inner folds
_SEARCH_KEYS = ("search", "inner_folds")


def classifier_option_problems(base: str, opts: dict) -> list[str]:
    """Each option of a classifier entry that its estimator would reject, checked against the
    estimator's ``_parameter_constraints`` (scikit-learn's own validation) without fitting:
    ``.<key>: <why>`` suffixes. Imports scikit-learn only when an entry sets model options."""
    params = {k: v for k, v in opts.items() if k not in ("base", *_SEARCH_KEYS)}
    search = opts.get("search") or {}
    if (
        set(params) <= {"rebalance"} and not search
    ):  # the shipped variants: no scikit-learn import per plan
        return []
    from sklearn.base import BaseEstimator
    from sklearn.utils._param_validation import InvalidParameterError

    from trimodal.learn.classify import make_classifier

    problems = []
    try:
        template = make_classifier(base, **{k: v for k, v in params.items() if k in _BUILD_KEYS})
        known = {n.rsplit("__", 1)[-1] for n in template.get_params(deep=True)}
        for k in [k for k in params if k not in _BUILD_KEYS and k not in known]:
            params.pop(k)
            problems.append(
                f".{k}: not an option of {base!r}{_did_you_mean(k, sorted(known))}; its "
                f"estimator takes: {_allowed(sorted(known))}"
            )
        problems += [  # a searched option is resolved by its short name (trimodal.learn.tuning)
            f".search.{k}: not an option of {base!r}{_did_you_mean(k, sorted(known))}"
            for k in search
            if str(k).rsplit("__", 1)[-1] not in known
        ]
        est = make_classifier(base, **params)
    except (TypeError, ValueError, KeyError) as e:
        return [*problems, f": {type(e).__name__}: {e}"]
    estimators = [est, *(v for v in est.get_params(deep=True).values())]
    for obj in estimators:
        if isinstance(obj, BaseEstimator) and hasattr(obj, "_parameter_constraints"):
            try:
                obj._validate_params()
            except InvalidParameterError as e:
                key = next((k for k in params if f"{k!r} parameter" in str(e)), None)
                problems.append(f"{'.' + key if key else ''}: {e}")
    return problems


def packaged_model_problem(path: str, spec: dict) -> str | None:
    """A ``packaged:`` name no package carries (a typo), or a packaged model whose package is
    not installed: either fails inside every job, so it is named before any."""
    from trimodal.plumbing.models import PACKAGED, is_packaged, missing_packages

    model = spec.get("model")
    if not isinstance(model, str):
        return None
    if model.startswith("packaged:") and not is_packaged(model):
        names = sorted(n for n in PACKAGED if n.startswith("packaged:"))
        return (
            f"{path}: {model!r} is not a packaged model{_did_you_mean(model, names)}; "
            f"packaged: {_allowed(sorted(PACKAGED))}"
        )
    missing = missing_packages(model) if is_packaged(model) else []
    if missing:
        return (
            f"{path}: packaged model {model!r} needs the package(s) {_allowed(missing)}, which "
            "are not installed; run `make setup` (it installs the model wheels)"
        )
    return None


class _Checker:
    """The cross-reference checks, written to survive any shape the schema rejected."""

    def __init__(self, config: dict, sheet_columns=None):
        self.config = config
        self.sheet_columns = None if sheet_columns is None else list(sheet_columns)
        self.extractors = {
            k: v for k, v in _dict(config.get("extractors")).items() if isinstance(v, dict)
        }
        self.classes: dict[str, type] = {}  # extractor name -> class, for known kinds
        self.problems: list[str] = []
        self.label_sets = _dict(_dict(config.get("labels")).get("sets"))
        self.options = _dict(_dict(config.get("classify")).get("options"))

    def add(self, message: str) -> None:
        self.problems.append(message)

    def run(self) -> list[str]:
        self.check_sheet_columns()
        self.check_extractors()
        self.check_text_sources()
        self.check_label_sets()
        self.check_classify()
        self.check_fusion()
        self.check_crossmodal()
        return self.problems

    # sample sheet ------------------------------------------------------------------------

    def check_sheet_columns(self) -> None:
        """A header that is a near miss of a column trimodal reads (``Label``, ``descr``) would
        otherwise run to the end with that column silently empty."""
        from trimodal.corpus.sheet import KNOWN_COLUMNS

        if self.sheet_columns is None:
            return
        missing = [c for c in KNOWN_COLUMNS if c not in self.sheet_columns]
        for col in self.sheet_columns:
            if col in KNOWN_COLUMNS or not missing:
                continue
            by_lower = {m.lower(): m for m in missing}
            close = (
                [by_lower[col.lower()]]
                if col.lower() in by_lower
                else (difflib.get_close_matches(col, missing, n=1, cutoff=0.6))
            )
            if close:
                self.add(
                    f"samples: the sheet's column {col!r} is not one trimodal reads (did you "
                    f"mean {close[0]!r}?); it reads: {_allowed(KNOWN_COLUMNS)}"
                )

    # extractors --------------------------------------------------------------------------

    def check_extractors(self) -> None:
        from trimodal.extractors.base import REGISTRY, extractor_target, get_extractor_class

        extractor_target("frame_embedding")  # fills REGISTRY with the built-in kinds
        for name, spec in self.extractors.items():
            kind = spec.get("kind")
            if not isinstance(kind, str):
                continue  # the schema said so
            if kind not in REGISTRY and ":" not in kind:
                self.add(
                    f"{key_path('extractors', name, 'kind')}: unknown extractor kind {kind!r}"
                    f"{_did_you_mean(kind, REGISTRY)}; known: {_allowed(sorted(REGISTRY))}, "
                    "or a plug-in 'package.module:Class'"
                )
                continue
            try:
                cls = get_extractor_class(kind)
            except (ImportError, AttributeError) as e:
                self.add(f"{key_path('extractors', name, 'kind')}: cannot load {kind!r}: {e}")
                continue
            self.classes[name] = cls
            modality = spec.get("modality")
            if isinstance(modality, str) and cls.modality and modality != cls.modality:
                self.add(
                    f"{key_path('extractors', name, 'modality')}: {modality!r}, but kind "
                    f"{kind!r} extracts {cls.modality}; leave it out (or use {cls.modality})"
                )
            elif modality is None and not cls.modality:
                self.add(
                    f"{key_path('extractors', name)}: kind {kind!r} declares no modality; "
                    "add modality: video, audio or text"
                )
            params = _dict(spec.get("params"))
            for key, problem in cls.check_params(params):
                declared = cls.PARAMS.get(key)
                if declared is None:
                    hint = _did_you_mean(key, cls.PARAMS)
                elif declared.choices and isinstance(params[key], str):
                    hint = _did_you_mean(params[key], declared.choices)
                else:
                    hint = ""
                self.add(f"{key_path('extractors', name, 'params', key)}: {problem}{hint}")
            if "sources" in cls.PARAMS:
                self.check_sources(name, params.get("sources"))
            problem = packaged_model_problem(key_path("extractors", name, "model"), spec)
            if problem:
                self.add(problem)
                continue
            problem = offline_model_problem(
                key_path("extractors", name, "model"),
                spec.get("model"),
                cls.hub_repo,
                f"extractor {name!r} (kind {kind})",
            )
            if problem:
                self.add(problem)

    def check_sources(self, name: str, sources) -> None:
        known = [*BUILTIN_TEXT_SOURCES, *_dict(self.config.get("text_sources"))]
        items = [(None, sources)] if isinstance(sources, str) else enumerate(_list(sources))
        for i, s in items:
            if isinstance(s, str) and s not in known:
                path = key_path(
                    "extractors", name, "params", "sources", *([] if i is None else [i])
                )
                self.add(
                    f"{path}: unknown text source {s!r}{_did_you_mean(s, known)}; known: "
                    f"{_allowed(known)} (add others under text_sources)"
                )

    def check_text_sources(self) -> None:
        for source, producer in _dict(self.config.get("text_sources")).items():
            path = key_path("text_sources", source)
            if source in BUILTIN_TEXT_SOURCES:
                self.add(f"{path}: {source!r} is a built-in text source; choose another name")
            if not isinstance(producer, str):
                continue
            if producer not in self.extractors:
                self.add(
                    f"{path}: {producer!r} is not a configured extractor"
                    f"{_did_you_mean(producer, self.extractors)}; configured: "
                    f"{_allowed(list(self.extractors))}"
                )
            elif producer in self.classes and "text" not in self.classes[producer].POOLINGS:
                with_text = [n for n, c in self.classes.items() if "text" in c.POOLINGS]
                self.add(
                    f"{path}: extractor {producer!r} (kind {self.classes[producer].name}) has "
                    f"no text output; extractors with text: {_allowed(with_text)}"
                )

    # labels -----------------------------------------------------------------------------

    def check_label_sets(self) -> None:
        for name, spec in self.label_sets.items():
            if not isinstance(spec, dict):
                continue
            path = ("labels", "sets", name)
            source = spec.get("from", "label")
            if source == "zeroshot" and not spec.get("candidates"):
                self.add(f"{key_path(*path)}: a zero-shot label set needs candidates")
            if spec.get("strategy") == "drop_dominant" and not spec.get("dominant"):
                self.add(f"{key_path(*path, 'strategy')}: drop_dominant needs dominant: <label>")
            language = _dict(spec.get("language")).get("extractor")
            if language and _dict(spec.get("language")).get("column"):
                self.add(
                    f"{key_path(*path, 'language')}: give either extractor (a detected "
                    "language) or column (the sheet's), not both"
                )
            if isinstance(language, str) and language not in self.extractors:
                self.add(
                    f"{key_path(*path, 'language', 'extractor')}: {language!r} is not a "
                    f"configured extractor{_did_you_mean(language, self.extractors)}; "
                    f"configured: {_allowed(list(self.extractors))}"
                )
            if (
                source == "label"
                and self.sheet_columns is not None
                and "label" not in self.sheet_columns
            ):
                self.add(
                    f"{key_path(*path, 'from')}: 'label' needs a label column in the sample "
                    f"sheet; it has: {_allowed(self.sheet_columns)}"
                )
            if source == "zeroshot":
                self.check_zeroshot_model(path, spec)
            self.check_merge_and_threshold(path, spec, source)

    def check_merge_and_threshold(self, path: tuple, spec: dict, source) -> None:
        """merge entries must name a label the set has; confident's threshold is a probability."""
        from trimodal.corpus.sheet import normalise_label

        candidates = spec.get("candidates")
        if source == "zeroshot":
            known = set(candidates) if isinstance(candidates, (dict, list)) else None
            where = "the zero-shot candidates"
        else:
            known, where = self.sheet_labels, "the sheet's labels"
        merged_names = {
            normalise_label(v) for v in _dict(spec.get("merge")).values() if isinstance(v, str)
        }
        if known is not None:
            known = {normalise_label(k) for k in known}
            for old in _dict(spec.get("merge")):
                if normalise_label(old) not in known and normalise_label(old) not in merged_names:
                    self.add(
                        f"{key_path(*path, 'merge', old)}: no label {old!r} in {where}"
                        f"{_did_you_mean(old, sorted(known))}; labels: {_allowed(sorted(known))}"
                    )
            dominant = spec.get("dominant")
            if (
                spec.get("strategy") == "drop_dominant"
                and isinstance(dominant, str)
                and source == "zeroshot"
                and normalise_label(dominant) not in known
            ):
                self.add(
                    f"{key_path(*path, 'dominant')}: {dominant!r} is not a candidate"
                    f"{_did_you_mean(dominant, sorted(known))}; candidates: "
                    f"{_allowed(sorted(known))}"
                )
        threshold = spec.get("threshold")
        if (
            spec.get("strategy") == "confident"
            and isinstance(threshold, (int, float))
            and not 0 < threshold <= 1
        ):
            self.add(
                f"{key_path(*path, 'threshold')}: {threshold!r} is out of range: the confident "
                "strategy keeps a relabelling when the runner-up's probability is below it, so it "
                "must be a probability in (0, 1]"
            )

    def check_zeroshot_model(self, path: tuple, spec: dict) -> None:
        from trimodal.extractors.base import Extractor, get_extractor_class
        from trimodal.labels.zeroshot import DEFAULT_EMBEDDING_MODEL, DEFAULT_NLI_MODEL

        nli = spec.get("backend") == "nli"
        model = spec.get("model") or (DEFAULT_NLI_MODEL if nli else DEFAULT_EMBEDDING_MODEL)
        # the embedding back-end loads it with sentence-transformers, as the sbert extractor
        loader = Extractor if nli else get_extractor_class("sbert")
        problem = offline_model_problem(
            key_path(*path, "model"), model, loader.hub_repo, f"label set {path[-1]!r}"
        )
        if problem:
            self.add(problem)

    def check_label_set_name(self, path: str, name) -> None:
        if isinstance(name, str) and name not in self.label_sets:
            self.add(
                f"{path}: unknown label set {name!r}{_did_you_mean(name, self.label_sets)}; "
                f"defined in labels.sets: {_allowed(list(self.label_sets))}"
            )

    # feature sets and classifiers -------------------------------------------------------

    def check_feature_set(self, path: str, fs, text: str | None = None) -> None:
        """`text`: None when a ':text' set is allowed, "only" when it must be one, else why
        it is not allowed."""
        if not isinstance(fs, str) or ":" not in fs:
            return  # the schema's pattern said so
        extractor, pooling = fs.split(":", 1)
        if extractor not in self.extractors:
            self.add(
                f"{path}: {fs!r} names extractor {extractor!r}, which is not configured"
                f"{_did_you_mean(extractor, self.extractors)}; configured: "
                f"{_allowed(list(self.extractors))}"
            )
            return
        cls = self.classes.get(extractor)
        if cls is None:
            return  # unknown kind, reported once already
        if pooling not in cls.POOLINGS:
            self.add(
                f"{path}: {fs!r}: extractor {extractor!r} (kind {cls.name}) has no pooling "
                f"{pooling!r}{_did_you_mean(pooling, cls.POOLINGS)}; it produces: "
                f"{_allowed(cls.POOLINGS)}"
            )
        elif text == "only" and pooling != "text":
            self.add(f"{path}: {fs!r}: fine-tuning reads raw text; name a ':text' feature set")
        elif text not in (None, "only") and pooling == "text":
            self.add(f"{path}: {fs!r} is raw text: {text}")

    def variants(self) -> list[str]:
        """Classifier names that classify.options adds (named variants of a base)."""
        return [o for o in self.options if o not in CLASSIFIERS]

    def raw_text_reader(self, name: str) -> bool:
        """Whether classifier `name` (or the base of a named variant) reads raw text only."""
        base = _dict(self.options.get(name)).get("base", name)
        return isinstance(base, str) and base in CLASSIFIERS and CLASSIFIERS[base].raw_text

    def classifier_problem(self, name: str, allowed: list[str]) -> str:
        known = _allowed(allowed)
        return f"unknown classifier {name!r}{_did_you_mean(name, allowed)}; known: {known}"

    def load_plugins(self, section: str) -> None:
        """Import `section`.plugins (each registers its classifiers or fusion kinds)."""
        from trimodal.plumbing.plugins import load_plugins

        for i, module in enumerate(_list(_dict(self.config.get(section)).get("plugins"))):
            try:
                load_plugins([module])
            except ImportError as e:
                self.add(f"{key_path(section, 'plugins', i)}: cannot import {module!r}: {e}")

    def check_classify(self) -> None:
        self.load_plugins("classify")
        cfg = _dict(self.config.get("classify"))
        for i, name in enumerate(_list(cfg.get("label_sets"))):
            self.check_label_set_name(key_path("classify", "label_sets", i), name)
        for i, fs in enumerate(_list(cfg.get("feature_sets"))):
            self.check_feature_set(key_path("classify", "feature_sets", i), fs)
        named = [*sorted(CLASSIFIERS), *self.variants()]
        vectors = [fs for fs in _list(cfg.get("feature_sets")) if not str(fs).endswith(":text")]
        for i, name in enumerate(_list(cfg.get("classifiers"))):
            path = key_path("classify", "classifiers", i)
            if isinstance(name, str) and name not in named:
                problem = self.classifier_problem(name, named)
                self.add(f"{path}: {problem} (or define it in classify.options with a base)")
            elif isinstance(name, str) and self.raw_text_reader(name) and vectors:
                self.add(
                    f"{path}: {name!r} reads raw text, but classify.feature_sets has pooled "
                    f"vectors ({_allowed(vectors)}); configure it under classify.finetune"
                )
        bases = sorted(CLASSIFIERS)
        for name, opts in self.options.items():
            self.check_search(("classify", "options", name), _dict(opts), "search")
            base = _dict(opts).get("base", name)
            if isinstance(base, str) and base not in bases:
                where = ("classify", "options", name, *(["base"] if "base" in _dict(opts) else []))
                hint = "" if "base" in _dict(opts) else " (add base: <classifier>)"
                self.add(f"{key_path(*where)}: {self.classifier_problem(base, bases)}{hint}")
            elif isinstance(base, str):
                for problem in classifier_option_problems(base, _dict(opts)):
                    self.add(f"{key_path('classify', 'options', name)}{problem}")
        ft = _dict(cfg.get("finetune"))
        for i, name in enumerate(_list(ft.get("label_sets"))):
            self.check_label_set_name(key_path("classify", "finetune", "label_sets", i), name)
        if "feature_set" in ft:
            self.check_feature_set(
                key_path("classify", "finetune", "feature_set"), ft["feature_set"], text="only"
            )
        model = _dict(ft.get("params")).get("model")
        problem = offline_model_problem(
            key_path("classify", "finetune", "params", "model"), model, lambda m: m, "finetune"
        )
        if problem:
            self.add(problem)

    def check_search(self, where: tuple, opts: dict, key: str) -> None:
        """A search space (trimodal.learn.tuning): a mapping of parameter -> non-empty list."""
        if key not in opts:
            return
        space = opts[key]
        if not isinstance(space, dict) or not space:
            self.add(f"{key_path(*where, key)}: give a mapping parameter -> list of values")
            return
        for param, values in space.items():
            if not isinstance(values, list) or not values:
                self.add(
                    f"{key_path(*where, key, param)}: give a non-empty list of values, "
                    f"got {values!r}"
                )

    def check_fusion(self) -> None:
        from trimodal.fusion.kinds import FUSION_KINDS

        self.load_plugins("fusion")
        fusion = _dict(self.config.get("fusion"))
        sets = _dict(fusion.get("sets"))
        for name, spec in sets.items():
            if not isinstance(spec, dict):
                continue
            kinds = _list(spec.get("kinds", list(DEFAULT_FUSION_KINDS)))
            for j, kind in enumerate(kinds):
                if kind not in FUSION_KINDS:
                    self.add(
                        f"{key_path('fusion', 'sets', name, 'kinds', j)}: unknown fusion kind "
                        f"{kind!r}{_did_you_mean(str(kind), FUSION_KINDS)}; known: "
                        f"{_allowed(sorted(FUSION_KINDS))}"
                    )
            vector = [k for k in kinds if k in FUSION_KINDS and FUSION_KINDS[k].reads == "features"]
            why = (
                f"{' and '.join(vector)} fusion needs pooled vectors (embed the text, e.g. with "
                "an sbert extractor, or fuse it with late-mean/late-vote only: late-stack refits "
                "its base models on pooled vectors inside each fold)"
                if vector
                else None
            )
            for i, fs in enumerate(_list(spec.get("feature_sets"))):
                self.check_feature_set(key_path("fusion", "sets", name, "feature_sets", i), fs, why)
            for key in ("search", "meta_search"):
                self.check_search(
                    ("fusion", "sets", name, "options"), _dict(spec.get("options")), key
                )
            clf = spec.get("classifier", "ovr_linear_svc")
            if not isinstance(clf, str):
                continue
            # early fusion and late-stack (its base models, refitted in each fold) build the
            # classifier by name; late-mean/vote read its CV results, which a classify.options
            # variant also has
            allowed = (
                vector_classifiers()
                if BY_NAME_FUSION_KINDS & set(kinds)
                else [*vector_classifiers(), *self.variants()]
            )
            if clf not in allowed:
                self.add(
                    f"{key_path('fusion', 'sets', name, 'classifier')}: "
                    + fusion_variant_problem(clf, sorted(BY_NAME_FUSION_KINDS & set(kinds)))
                    if clf in self.variants()
                    else f"{key_path('fusion', 'sets', name, 'classifier')}: "
                    + self.classifier_problem(clf, allowed)
                )

    def check_crossmodal(self) -> None:
        cfg = _dict(self.config.get("crossmodal"))
        if "label_set" in cfg:
            self.check_label_set_name(key_path("crossmodal", "label_set"), cfg["label_set"])
        why = "cross-modal mapping needs pooled vectors (embed the text first)"
        for i, pair in enumerate(_list(cfg.get("pairs"))):
            for side in ("source", "target"):
                if side in _dict(pair):
                    self.check_feature_set(
                        key_path("crossmodal", "pairs", i, side), pair[side], why
                    )


def fusion_variant_problem(variant: str, kinds: list[str]) -> str:
    """A classify.options variant named by a fusion set whose kinds build the classifier by
    name (issue 32: it passed the dry run and failed in the fuse job with a KeyError)."""
    return (
        f"{variant!r} is a classify.options variant; {' and '.join(kinds)} fusion build "
        "their classifier by name and cannot use it: name a classifier, or keep only the "
        "kinds late-mean/late-vote, which read the variant's CV results"
    )


# --------------------------------------------------------------------------- circular pairs


def circular_pairs(config: dict) -> dict[str, list[str]]:
    """label set -> the extractors whose features that label set was derived from: a zero-shot
    set by embedding similarity with the same model (the same weights, whatever alias or path
    names them: :func:`trimodal.plumbing.models.model_identity`) on the same text (the
    description) as a Sentence-BERT extractor. Its label is the argmax of linear functions of those very features,
    so a classifier on them measures how well it recovers the relabelling rule, not the videos.
    """
    from trimodal.extractors.base import extractor_reads
    from trimodal.labels.zeroshot import DEFAULT_EMBEDDING_MODEL
    from trimodal.plumbing.models import model_identity

    out: dict[str, list[str]] = {}
    sets = _dict(_dict(config.get("labels")).get("sets"))
    for name, spec in sets.items():
        spec = _dict(spec)
        if spec.get("from") != "zeroshot" or spec.get("backend", "embedding") != "embedding":
            continue
        model = model_identity(spec.get("model") or DEFAULT_EMBEDDING_MODEL)
        for ex, es in _dict(config.get("extractors")).items():
            es = _dict(es)
            same = isinstance(es.get("model"), str) and model_identity(es["model"]) == model
            if es.get("kind") != "sbert" or not same:  # the same weights, any alias
                continue
            # what it reads, as its class declares it (trimodal.extractors.base.Extractor.reads)
            if extractor_reads("sbert", "text", _dict(es.get("params"))).description:
                out.setdefault(name, []).append(ex)
    return out


def circular_warnings(config: dict) -> list[str]:
    """One warning per label set whose evaluations include a feature set it was derived from."""
    out = []
    classify = _dict(config.get("classify"))
    used = [str(fs) for fs in classify.get("feature_sets") or []]
    for label_set, extractors in circular_pairs(config).items():
        if label_set not in (classify.get("label_sets") or []):
            continue
        pairs = [fs for fs in used if fs.split(":")[0] in extractors]
        if pairs:
            out.append(
                f"labels.sets.{label_set}: derived by zero-shot embedding with the model and "
                f"text of {', '.join(extractors)}, so classifying it from {', '.join(pairs)} "
                "recovers the relabelling rule, not the videos' content (the report marks those "
                "rows 'circular'); use another model for the label set or drop those pairs"
            )
    return out
