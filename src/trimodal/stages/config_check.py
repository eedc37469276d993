"""The whole configuration checked before any job runs: every problem at once, by key path.

The JSON schema (workflow/schemas/config.schema.yaml) closes every object, so a misspelled key
is an error; this module reports *all* schema errors (Snakemake's ``validate`` stops at the
first) and then what a schema cannot know: each extractor's params against its declaration
(``Extractor.PARAMS``), and every name that refers to another part of the configuration —
extractor kinds, feature sets and their poolings, classifiers, label sets, text sources — and
whether each model can be found when the Hugging Face Hub is offline. Each message names the key
path and the allowed values, so a mistake costs one dry run, not a run of failed jobs.

Each family checks its own section and this module composes them (plus the cross references:
feature sets, label set names, models offline): classifier entries by
:class:`trimodal.learn.classifier_spec.ClassifierSpec`, fusion sets by
:func:`trimodal.fusion.kinds.fusion_set_problems`, the cross-modal section by
:func:`trimodal.crossmodal.methods.crossmodal_problems`, label sets by
:func:`trimodal.labels.label_sets.label_set_problems`, extractor entries and text sources by
:func:`trimodal.extractors.config.extractor_problems` (what each extractor class declares); the
wording is :mod:`trimodal.plumbing.config_problems`.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from trimodal.crossmodal.methods import CROSSMODAL_METHODS, LOSSES
from trimodal.crossmodal.retrieval import RANKING_CHOICES
from trimodal.plumbing.config_problems import allowed, as_dict, as_list, did_you_mean, key_path

#: the schema next to the workflow this package belongs to (common.smk passes its own)
SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


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
            ("classify.cv.protocol", as_dict(as_dict(config.get("classify")).get("cv"))),
            ("crossmodal.protocol", as_dict(config.get("crossmodal"))),
        )
        if section.get("protocol") == "split"
    ]
    if wants and "split" not in columns:
        problems += [
            f"{key}: split needs a split column (train/val/test) in the sample sheet; "
            f"it has: {allowed(columns)}"
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
    for name, spec in as_dict(as_dict(config.get("labels")).get("sets")).items():
        column = as_dict(as_dict(spec).get("language")).get("column")
        if isinstance(column, str) and column not in columns:
            problems.append(
                f"{key_path('labels', 'sets', name, 'language', 'column')}: {column!r} is not "
                f"a column of the sample sheet; it has: {allowed(columns)}"
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
            keys = sorted(e.schema.get("properties", {}))
            for key in sorted(set(e.instance) - set(keys), key=str):
                out.append(
                    f"{key_path(*path, key)}: unknown key{did_you_mean(key, keys)}; "
                    f"allowed here: {allowed(keys)}"
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
        f"model{did_you_mean(model, PACKAGED)} and not in the Hugging Face cache "
        f"({hf_cache_dir()}). Fix: give a local path, a packaged name "
        f"({allowed(sorted(PACKAGED))}), or run once with network access "
        f"({' '.join(v + '=0' for v in offline)}) to download it"
    )


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
            f"{path}: {model!r} is not a packaged model{did_you_mean(model, names)}; "
            f"packaged: {allowed(sorted(PACKAGED))}"
        )
    missing = missing_packages(model) if is_packaged(model) else []
    if missing:
        return (
            f"{path}: packaged model {model!r} needs the package(s) {allowed(missing)}, which "
            "are not installed; run `make setup` (it installs the model wheels)"
        )
    return None


class _Checker:
    """The cross-reference checks, written to survive any shape the schema rejected."""

    def __init__(self, config: dict, sheet_columns=None):
        self.config = config
        self.sheet_columns = None if sheet_columns is None else list(sheet_columns)
        self.extractors = {
            k: v for k, v in as_dict(config.get("extractors")).items() if isinstance(v, dict)
        }
        self.classes: dict[str, type] = {}  # extractor name -> class, for known kinds
        self.problems: list[str] = []
        self.label_sets = as_dict(as_dict(config.get("labels")).get("sets"))
        self.options = as_dict(as_dict(config.get("classify")).get("options"))

    def add(self, message: str) -> None:
        self.problems.append(message)

    def run(self) -> list[str]:
        self.check_sheet_columns()
        self.check_extractors()
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
                    f"mean {close[0]!r}?); it reads: {allowed(KNOWN_COLUMNS)}"
                )

    # extractors --------------------------------------------------------------------------

    def check_extractors(self) -> None:
        """Each extractor entry by what its class declares (trimodal.extractors.config), then
        its model: packaged, or found with the Hub offline."""
        from trimodal.extractors.config import extractor_problems, text_source_problems

        text_sources = as_dict(self.config.get("text_sources"))
        for name, spec in self.extractors.items():
            cls, problems = extractor_problems(name, spec, text_sources)
            self.problems += problems
            if cls is None:
                continue
            self.classes[name] = cls
            problem = packaged_model_problem(key_path("extractors", name, "model"), spec)
            if problem:
                self.add(problem)
                continue
            problem = offline_model_problem(
                key_path("extractors", name, "model"),
                spec.get("model"),
                cls.hub_repo,
                f"extractor {name!r} (kind {spec['kind']})",
            )
            if problem:
                self.add(problem)
        self.problems += text_source_problems(text_sources, self.extractors, self.classes)

    # labels -----------------------------------------------------------------------------

    def check_label_sets(self) -> None:
        from trimodal.labels.label_sets import label_merge_problems, label_set_problems

        for name, spec in self.label_sets.items():
            if not isinstance(spec, dict):
                continue
            self.problems += label_set_problems(
                name, spec, extractors=self.extractors, sheet_columns=self.sheet_columns
            )
            if spec.get("from", "label") == "zeroshot":
                self.check_zeroshot_model(("labels", "sets", name), spec)
            self.problems += label_merge_problems(name, spec, self.sheet_labels)

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

    def label_set_name(self, path: str, name) -> list[str]:
        from trimodal.labels.label_sets import unknown_label_set_problems

        return unknown_label_set_problems(path, name, self.label_sets)

    # feature sets and classifiers -------------------------------------------------------

    def feature_set(self, path: str, fs, text: str | None = None) -> list[str]:
        """A reference to a feature set "<extractor>:<pooling>": a configured extractor and a
        pooling its kind produces. `text`: None when a ':text' set is allowed, "only" when it
        must be one, else why it is not allowed."""
        if not isinstance(fs, str) or ":" not in fs:
            return []  # the schema's pattern said so
        extractor, pooling = fs.split(":", 1)
        if extractor not in self.extractors:
            return [
                f"{path}: {fs!r} names extractor {extractor!r}, which is not configured"
                f"{did_you_mean(extractor, self.extractors)}; configured: "
                f"{allowed(list(self.extractors))}"
            ]
        cls = self.classes.get(extractor)
        if cls is None:
            return []  # unknown kind, reported once already
        if pooling not in cls.POOLINGS:
            return [
                f"{path}: {fs!r}: extractor {extractor!r} (kind {cls.name}) has no pooling "
                f"{pooling!r}{did_you_mean(pooling, cls.POOLINGS)}; it produces: "
                f"{allowed(cls.POOLINGS)}"
            ]
        if text == "only" and pooling != "text":
            return [f"{path}: {fs!r}: fine-tuning reads raw text; name a ':text' feature set"]
        if text not in (None, "only") and pooling == "text":
            return [f"{path}: {fs!r} is raw text: {text}"]
        return []

    def load_plugins(self, section: str) -> None:
        """Import `section`.plugins (each registers its classifiers or fusion kinds)."""
        from trimodal.plumbing.plugins import load_plugins

        for i, module in enumerate(as_list(as_dict(self.config.get(section)).get("plugins"))):
            try:
                load_plugins([module])
            except ImportError as e:
                self.add(f"{key_path(section, 'plugins', i)}: cannot import {module!r}: {e}")

    def check_classify(self) -> None:
        """The classify section: its references here, every classifier entry by the
        classifier spec (trimodal.learn.classifier_spec)."""
        from trimodal.learn.classifier_spec import classifier_list_problems, options_problems

        self.load_plugins("classify")
        cfg = as_dict(self.config.get("classify"))
        for i, name in enumerate(as_list(cfg.get("label_sets"))):
            self.problems += self.label_set_name(key_path("classify", "label_sets", i), name)
        feature_sets = as_list(cfg.get("feature_sets"))
        for i, fs in enumerate(feature_sets):
            self.problems += self.feature_set(key_path("classify", "feature_sets", i), fs)
        self.problems += classifier_list_problems(
            ("classify", "classifiers"), as_list(cfg.get("classifiers")), self.options, feature_sets
        )
        self.problems += options_problems(("classify", "options"), self.options)
        ft = as_dict(cfg.get("finetune"))
        for i, name in enumerate(as_list(ft.get("label_sets"))):
            path = key_path("classify", "finetune", "label_sets", i)
            self.problems += self.label_set_name(path, name)
        if "feature_set" in ft:
            self.problems += self.feature_set(
                key_path("classify", "finetune", "feature_set"), ft["feature_set"], text="only"
            )
        model = as_dict(ft.get("params")).get("model")
        problem = offline_model_problem(
            key_path("classify", "finetune", "params", "model"), model, lambda m: m, "finetune"
        )
        if problem:
            self.add(problem)

    def check_fusion(self) -> None:
        """Each fusion set, checked by the fusion kinds' registry (trimodal.fusion.kinds)."""
        from trimodal.fusion.kinds import fusion_set_problems
        from trimodal.learn.classifier_spec import variants

        self.load_plugins("fusion")
        for name, spec in as_dict(as_dict(self.config.get("fusion")).get("sets")).items():
            if isinstance(spec, dict):
                self.problems += fusion_set_problems(
                    name, spec, variants=variants(self.options), feature_set=self.feature_set
                )

    def check_crossmodal(self) -> None:
        """The crossmodal section, checked beside the methods' registry."""
        from trimodal.crossmodal.methods import crossmodal_problems

        self.problems += crossmodal_problems(
            as_dict(self.config.get("crossmodal")),
            label_set=self.label_set_name,
            feature_set=self.feature_set,
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
    sets = as_dict(as_dict(config.get("labels")).get("sets"))
    for name, spec in sets.items():
        spec = as_dict(spec)
        if spec.get("from") != "zeroshot" or spec.get("backend", "embedding") != "embedding":
            continue
        model = model_identity(spec.get("model") or DEFAULT_EMBEDDING_MODEL)
        for ex, es in as_dict(config.get("extractors")).items():
            es = as_dict(es)
            same = isinstance(es.get("model"), str) and model_identity(es["model"]) == model
            if es.get("kind") != "sbert" or not same:  # the same weights, any alias
                continue
            # what it reads, as its class declares it (trimodal.extractors.base.Extractor.reads)
            if extractor_reads("sbert", "text", as_dict(es.get("params"))).description:
                out.setdefault(name, []).append(ex)
    return out


def circular_warnings(config: dict) -> list[str]:
    """One warning per label set whose evaluations include a feature set it was derived from."""
    out = []
    classify = as_dict(config.get("classify"))
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
