"""One classifier entry of the config taken apart and checked in one place.

An entry (``classify.options.<name>``; late-stack's base models read the entry of their
classifier) mixes four kinds of key: ``base`` (the registered classifier it varies, by default
its own name), the nested search's ``search`` and ``inner_folds`` (trimodal.learn.tuning),
:func:`~trimodal.learn.pipeline.make_classifier`'s own keywords (``rebalance``, ``text``,
``scale``, ``class_weight``, ``proba``, ``seed``) and the rest, which go to the estimator.
:meth:`ClassifierSpec.split` is the one place that takes an entry apart (the classify stage,
cross-validation, late-stack), :meth:`ClassifierSpec.problems` the one place that checks it
before any job (the config check), so the two cannot disagree about a key.

What :meth:`~ClassifierSpec.problems` validates, without fitting and through public
scikit-learn API only:

- ``base``: a registered classifier;
- ``search``: a mapping parameter -> non-empty list, each parameter an option of the estimator
  by its short name (as :func:`trimodal.learn.tuning.resolve_space` resolves it);
- ``inner_folds``: a whole number, at least 2 (fewer makes no inner CV, so the search would
  silently never run);
- the build options: each key an option of the built estimator (``get_params(deep=True)``,
  by short name) or a keyword of ``make_classifier``; the builder accepts them (it is called);
  and each value is one scikit-learn accepts: every scikit-learn estimator inside is given a
  zero-row ``fit``. scikit-learn validates an estimator's parameters first thing in ``fit``
  (raising its parameter error, a ``ValueError`` that is also a ``TypeError``) and only then
  looks at the data, which with zero rows it refuses: nothing is learned. A subclass of ours
  (``SmallClassMLP``) is checked through its scikit-learn parent's ``fit``; our own wrappers
  (resampling, softmax probabilities, the fine-tuned transformer), and a scikit-learn
  estimator whose ``fit`` would reach one of them (a pipeline around them), are not
  value-checked themselves (the estimators inside them are).

scikit-learn is imported only to check an entry that sets estimator options or a search, so
the shipped variants (``rebalance: true``) cost no import at plan time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trimodal.learn.classifiers import CLASSIFIERS
from trimodal.plumbing.config_problems import allowed, as_dict, did_you_mean, key_path

#: inner folds of a nested search when the entry gives none
INNER_FOLDS = 3
#: make_classifier's own keywords (the rest of the build options go to the estimator)
BUILD_KEYWORDS = ("seed", "text", "scale", "class_weight", "proba", "rebalance")
#: the nested search's keys (trimodal.learn.tuning): a space of estimator options, inner folds
SEARCH_KEYS = ("search", "inner_folds")


@dataclass(frozen=True)
class ClassifierSpec:
    """A classifier entry by part: `base` the registered classifier, `build` what
    make_classifier is given (its keywords and the estimator's options), `search` and
    `inner_folds` the nested search; `given` the keys the entry set."""

    name: str
    base: Any
    build: dict = field(default_factory=dict)
    search: Any = None
    inner_folds: Any = INNER_FOLDS
    given: tuple = ()

    @classmethod
    def split(cls, name: str, options: dict | None = None, feature_set: str = "") -> ClassifierSpec:
        """Take entry `options` of classifier `name` apart. A ``:text`` `feature_set` gives a
        classifier that does not read raw text itself a TF-IDF vectorizer in front (unless
        the entry names ``text``)."""
        opts = dict(options or {})
        base = opts.pop("base", name)
        search = opts.pop("search", None)
        inner_folds = opts.pop("inner_folds", INNER_FOLDS)
        kind = CLASSIFIERS.get(base) if isinstance(base, str) else None
        if feature_set.endswith(":text") and not (kind and kind.raw_text):
            opts.setdefault("text", "tfidf")  # the vectorizer in front (raw-text models read it)
        return cls(name, base, opts, search, inner_folds, tuple(options or ()))

    @property
    def estimator_options(self) -> dict:
        """The build options that go to the estimator itself (not make_classifier's)."""
        return {k: v for k, v in self.build.items() if k not in BUILD_KEYWORDS}

    @property
    def rebalance(self) -> bool:
        return bool(self.build.get("rebalance", False))

    @property
    def text(self) -> str | None:
        return self.build.get("text")

    def inner_fold_count(self) -> int:
        return int(self.inner_folds)

    def without_base(self) -> dict:
        """The entry as cross-validation of `base` takes it (everything but ``base``)."""
        search = {k: getattr(self, k) for k in SEARCH_KEYS if k in self.given}
        return {**self.build, **search}

    def problems(self, path: tuple) -> list[str]:
        """Every problem of the entry at config key `path`, "key.path: why" (see the module
        docstring for what is checked)."""
        entry = {**self.build, **({"search": self.search} if "search" in self.given else {})}
        out = search_space_problems(path, entry, "search")
        if "inner_folds" in self.given:
            out += inner_folds_problems(path, self.inner_folds)
        bases = sorted(CLASSIFIERS)
        if isinstance(self.base, str) and self.base not in bases:
            where = (*path, *(["base"] if "base" in self.given else []))
            hint = "" if "base" in self.given else " (add base: <classifier>)"
            out.append(f"{key_path(*where)}: {unknown_classifier(self.base, bases)}{hint}")
        elif isinstance(self.base, str):
            out += [f"{key_path(*path)}{p}" for p in self.option_problems()]
        return out

    def option_problems(self) -> list[str]:
        """``.<key>: <why>`` for each build option or searched option of the entry that its
        estimator would reject."""
        base, params, search = self.base, dict(self.build), self.search or {}
        if set(params) <= {"rebalance"} and not search:  # the shipped variants: no import
            return []
        from trimodal.learn.pipeline import make_classifier

        problems = []
        try:
            template = make_classifier(
                base, **{k: v for k, v in params.items() if k in BUILD_KEYWORDS}
            )
            known = {n.rsplit("__", 1)[-1] for n in template.get_params(deep=True)}
            for k in [k for k in params if k not in BUILD_KEYWORDS and k not in known]:
                params.pop(k)
                problems.append(
                    f".{k}: not an option of {base!r}{did_you_mean(k, sorted(known))}; its "
                    f"estimator takes: {allowed(sorted(known))}"
                )
            problems += [  # a searched option is resolved by its short name (learn.tuning)
                f".search.{k}: not an option of {base!r}{did_you_mean(k, sorted(known))}"
                for k in search
                if str(k).rsplit("__", 1)[-1] not in known
            ]
            est = make_classifier(base, **params)
        except (TypeError, ValueError, KeyError) as e:
            return [*problems, f": {type(e).__name__}: {e}"]
        for message in rejected_values(est):
            key = next((k for k in params if f"{k!r} parameter" in message), None)
            problems.append(f"{'.' + key if key else ''}: {message}")
        return problems


def rejected_values(est) -> list[str]:
    """scikit-learn's message for each parameter value it rejects in `est` or an estimator
    inside it, found by a zero-row ``fit`` of each (parameters are validated before the
    data; with no rows nothing is fitted)."""
    import numpy as np
    from sklearn.base import BaseEstimator, clone

    out: list[str] = []
    for obj in (est, *est.get_params(deep=True).values()):
        fit = _sklearn_fit(obj) if isinstance(obj, BaseEstimator) else None
        inside = obj.get_params(deep=True).values() if fit else ()
        if fit is None or not all(_is_sklearn(v) for v in inside if isinstance(v, BaseEstimator)):
            continue  # ours, or one whose fit would reach ours (fine-tuning would load a model)
        try:
            fit(clone(obj), np.zeros((0, 1)), np.zeros(0))
        except Exception as e:  # noqa: BLE001 - the zero-row data error is expected
            # scikit-learn's parameter error is a ValueError and a TypeError at once
            if isinstance(e, ValueError) and isinstance(e, TypeError) and str(e) not in out:
                out.append(str(e))
    return out


def _is_sklearn(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "sklearn"


def _sklearn_fit(obj):
    """The ``fit`` of the nearest scikit-learn estimator class of `obj` (itself, or the
    scikit-learn parent of a subclass of ours), or None for an estimator of our own."""
    from sklearn.base import BaseEstimator

    for cls in type(obj).__mro__:
        if (
            cls.__module__.split(".")[0] == "sklearn"
            and issubclass(cls, BaseEstimator)
            and callable(getattr(cls, "fit", None))
        ):
            return cls.fit
    return None


def unknown_classifier(name, known: list[str]) -> str:
    """An unknown classifier name, with the closest and all known ones."""
    return f"unknown classifier {name!r}{did_you_mean(name, known)}; known: {allowed(known)}"


def search_space_problems(path: tuple, opts: dict, key: str) -> list[str]:
    """A search space `opts[key]` (trimodal.learn.tuning): a mapping parameter -> non-empty
    list (classifier entries' ``search``, fusion sets' ``search`` and ``meta_search``)."""
    if key not in opts:
        return []
    space = opts[key]
    if not isinstance(space, dict) or not space:
        return [f"{key_path(*path, key)}: give a mapping parameter -> list of values"]
    return [
        f"{key_path(*path, key, param)}: give a non-empty list of values, got {values!r}"
        for param, values in space.items()
        if not isinstance(values, list) or not values
    ]


def inner_folds_problems(path: tuple, inner_folds) -> list[str]:
    """``inner_folds`` must be a whole number of at least 2 folds (with fewer the nested
    search finds no inner CV and silently keeps the default)."""
    try:
        n = None if isinstance(inner_folds, bool) else int(inner_folds)
    except (TypeError, ValueError):
        n = None
    if n is not None and n >= 2:
        return []
    return [
        f"{key_path(*path, 'inner_folds')}: give a whole number of inner folds, at least 2 "
        f"(with fewer the search never runs), got {inner_folds!r}"
    ]


# --------------------------------------------------------------------------- names


def variants(options: dict) -> list[str]:
    """Classifier names that ``classify.options`` adds (named variants of a base)."""
    return [o for o in as_dict(options) if o not in CLASSIFIERS]


def raw_text_reader(name: str, options: dict) -> bool:
    """Whether classifier `name` (or the base of a named variant) reads raw text only."""
    base = as_dict(as_dict(options).get(name)).get("base", name)
    return isinstance(base, str) and base in CLASSIFIERS and CLASSIFIERS[base].raw_text


def classifier_list_problems(path: tuple, names: list, options: dict, feature_sets: list) -> list:
    """The ``classify.classifiers`` list: each a registered classifier or a variant of
    `options`; a raw-text reader only where every feature set is raw text."""
    out = []
    named = [*sorted(CLASSIFIERS), *variants(options)]
    vectors = [fs for fs in feature_sets if not str(fs).endswith(":text")]
    for i, name in enumerate(names):
        if isinstance(name, str) and name not in named:
            out.append(
                f"{key_path(*path, i)}: {unknown_classifier(name, named)} "
                "(or define it in classify.options with a base)"
            )
        elif isinstance(name, str) and raw_text_reader(name, options) and vectors:
            out.append(
                f"{key_path(*path, i)}: {name!r} reads raw text, but classify.feature_sets has "
                f"pooled vectors ({allowed(vectors)}); configure it under classify.finetune"
            )
    return out


def options_problems(path: tuple, options: dict) -> list[str]:
    """Every classifier entry of ``classify.options`` (at `path`), checked by its spec."""
    out = []
    for name, opts in as_dict(options).items():
        out += ClassifierSpec.split(name, as_dict(opts)).problems((*path, name))
    return out
