"""The registry of fusion kinds: one spelling, used by the rules' wildcards and inputs, the
config check and the fuse stage (trimodal.stages.fuse).

A fusion kind reads either the feature sets' pooled vectors (``reads="features"``: early,
intermediate) or the single-modality CV results of `classifier` (``reads="results"``: late
fusion). A new kind is one function registered with :func:`register_fusion_kind`, in a module
listed under ``fusion: {plugins: [...]}`` in the config (docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trimodal.plumbing.device import pick_device

log = logging.getLogger("trimodal")


@dataclass
class FusionJob:
    """What one fusion evaluation is given (the rule's inputs and the set's config)."""

    feature_sets: list[str]
    labels_tsv: str
    label_set: str
    features_dir: str
    classifier: str
    folds: int | str  # a number of folds, or "split" (the split protocol, trimodal.learn.cv)
    seed: int
    options: dict = field(default_factory=dict)
    base_results: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FusionKind:
    name: str
    reads: str  # "features" (pooled vectors) or "results" (base CV results of `classifier`)
    run: Callable[[FusionJob], Any]  # -> a CVResult


FUSION_KINDS: dict[str, FusionKind] = {}


def register_fusion_kind(name: str, reads: str, run: Callable[[FusionJob], Any]) -> None:
    if reads not in ("features", "results"):
        raise ValueError(f"fusion kind {name!r}: reads must be 'features' or 'results'")
    FUSION_KINDS[name] = FusionKind(name, reads, run)


def _early(job: FusionJob):
    from trimodal.fusion.evaluate import evaluate_early

    return evaluate_early(
        job.feature_sets,
        job.labels_tsv,
        job.classifier,
        job.features_dir,
        job.label_set,
        folds=job.folds,
        seed=job.seed,
    )


def _intermediate(job: FusionJob):
    from trimodal.fusion.evaluate import evaluate_blocks
    from trimodal.fusion.net import IntermediateFusionClassifier
    from trimodal.learn.tuning import nested

    options = dict(job.options)
    options.pop("meta_search", None)  # late-stack's
    search, inner = options.pop("search", None), options.pop("inner_folds", 3)
    device = pick_device(options.pop("device", "auto"))
    return evaluate_blocks(
        job.feature_sets,
        job.labels_tsv,
        lambda slices: nested(
            IntermediateFusionClassifier(
                block_slices=slices, seed=job.seed, device=device, **options
            ),
            search,
            seed=job.seed,
            inner_folds=inner,
        ),
        job.features_dir,
        job.label_set,
        job.folds,
        job.seed,
        kind="intermediate",
        classifier_name="fusion_net",
    )


def _check_label_set_folds(results, labels_tsv: str, folds: int | str, seed: int) -> None:
    """Base results must have been scored on this label set's folds (not a stale config)."""
    from trimodal.labels.label_sets import load_labels
    from trimodal.learn.cv import NotEvaluated, agreed_folds, label_set_folds

    try:
        fset = label_set_folds(load_labels(labels_tsv), folds, seed)
    except NotEvaluated:
        return  # then the base results are not evaluated either
    named = {f"base result {i + 1} ({r.name})": r.folds for i, r in enumerate(results)}
    agreed_folds({"the label set": fset.fold, **named})


def _groups(labels_tsv: str):
    """The label set's groups (video id -> group), or None when it has none."""
    from trimodal.labels.label_sets import load_labels

    labels = load_labels(labels_tsv)
    if "group" not in labels.columns:
        return None
    return labels.drop_duplicates("video_id").set_index("video_id")["group"]


def _train_labels(labels_tsv: str):
    """The labels of the split's train videos (the majority baseline of a split late fusion)."""
    from trimodal.labels.label_sets import load_labels

    labels = load_labels(labels_tsv)
    if "split" not in labels.columns:
        return None
    return labels.loc[labels["split"].astype(str) == "train", "label"].reset_index(drop=True)


def _late(method: str) -> Callable[[FusionJob], Any]:
    def run(job: FusionJob):
        from trimodal.fusion.evaluate import late_fusion_from_results
        from trimodal.learn.results import CVResult

        results = [CVResult.from_h5(p) for p in job.base_results]
        if all(r.evaluated for r in results):
            _check_label_set_folds(results, job.labels_tsv, job.folds, job.seed)
        result = late_fusion_from_results(
            results,
            method=method,
            folds=job.folds,
            seed=job.seed,
            groups=_groups(job.labels_tsv),  # the label set's groups, passed on to the CV
            train_labels=_train_labels(job.labels_tsv) if job.folds == "split" else None,
        )
        result.kind = f"late-{method}"
        return result

    return run


def _late_stack(job: FusionJob):
    """Nested stacking: base models refitted inside every outer fold (no second-order leak),
    built as ``classify.options`` configures `classifier` (``options.base_options``, which the
    workflow fills in), the meta-model's ``meta_search`` run inside each outer training fold."""
    from trimodal.fusion.evaluate import NestedStacking, evaluate_blocks
    from trimodal.learn.classifier_spec import ClassifierSpec

    # the classifier's entry by part: base models at its build options (no search inside)
    spec = ClassifierSpec.split(job.classifier, job.options.get("base_options"))
    base, base_search, base_options = spec.base, spec.search, spec.build
    result = evaluate_blocks(
        job.feature_sets,
        job.labels_tsv,
        lambda slices: NestedStacking(
            slices,
            base=base,
            seed=job.seed,
            base_options=base_options,
            meta_search=job.options.get("meta_search"),
        ),
        job.features_dir,
        job.label_set,
        job.folds,
        job.seed,
        kind="late-stack",
        classifier_name="logreg_meta",
    )
    if base_search:  # a search per base model inside every inner fold: not run, and said so
        why = f"base models at the fixed options of {job.classifier} (its search not applied)"
        result.note = "; ".join(n for n in (result.note, why) if n)
    return result


register_fusion_kind("early", "features", _early)
register_fusion_kind("intermediate", "features", _intermediate)
register_fusion_kind("late-stack", "features", _late_stack)
for _method in ("mean", "vote"):
    register_fusion_kind(f"late-{_method}", "results", _late(_method))


# --------------------------------------------------------------------------- config check

#: the kinds a fusion set runs when it names none
DEFAULT_FUSION_KINDS = ("early", "late-stack")
#: fusion kinds that build their classifier by name (a classify.options variant is not one)
BY_NAME_FUSION_KINDS = {"early", "late-stack"}


def fusion_set_problems(
    name: str, spec: dict, *, variants: list[str], feature_set: Callable[..., list[str]]
) -> list[str]:
    """Every problem of fusion set `name` (``fusion.sets.<name>``): its kinds, their options'
    search spaces, its classifier (one the kinds can build), and its feature sets, which
    `feature_set(path, fs, why_not_text)` checks against the configured extractors.
    `variants`: the classify.options variants (late-mean/vote read their CV results)."""
    from trimodal.learn.classifier_spec import search_space_problems, unknown_classifier
    from trimodal.learn.classifiers import vector_classifiers
    from trimodal.plumbing.config_problems import allowed, as_dict, as_list, did_you_mean, key_path

    out = []
    path = ("fusion", "sets", name)
    kinds = as_list(spec.get("kinds", list(DEFAULT_FUSION_KINDS)))
    for j, kind in enumerate(kinds):
        if kind not in FUSION_KINDS:
            out.append(
                f"{key_path(*path, 'kinds', j)}: unknown fusion kind {kind!r}"
                f"{did_you_mean(str(kind), FUSION_KINDS)}; known: {allowed(sorted(FUSION_KINDS))}"
            )
    vector = [k for k in kinds if k in FUSION_KINDS and FUSION_KINDS[k].reads == "features"]
    why = (
        f"{' and '.join(vector)} fusion needs pooled vectors (embed the text, e.g. with "
        "an sbert extractor, or fuse it with late-mean/late-vote only: late-stack refits "
        "its base models on pooled vectors inside each fold)"
        if vector
        else None
    )
    for i, fs in enumerate(as_list(spec.get("feature_sets"))):
        out += feature_set(key_path(*path, "feature_sets", i), fs, why)
    for key in ("search", "meta_search"):
        out += search_space_problems((*path, "options"), as_dict(spec.get("options")), key)
    clf = spec.get("classifier", "ovr_linear_svc")
    if not isinstance(clf, str):
        return out
    # early fusion and late-stack (its base models, refitted in each fold) build the
    # classifier by name; late-mean/vote read its CV results, which a variant also has
    by_name = sorted(BY_NAME_FUSION_KINDS & set(kinds))
    choices = vector_classifiers() if by_name else [*vector_classifiers(), *variants]
    if clf not in choices:
        out.append(
            f"{key_path(*path, 'classifier')}: "
            + (
                fusion_variant_problem(clf, by_name)
                if clf in variants
                else unknown_classifier(clf, choices)
            )
        )
    return out


def fusion_variant_problem(variant: str, kinds: list[str]) -> str:
    """A classify.options variant named by a fusion set whose kinds build the classifier by
    name (issue 32: it passed the dry run and failed in the fuse job with a KeyError)."""
    return (
        f"{variant!r} is a classify.options variant; {' and '.join(kinds)} fusion build "
        "their classifier by name and cannot use it: name a classifier, or keep only the "
        "kinds late-mean/late-vote, which read the variant's CV results"
    )
