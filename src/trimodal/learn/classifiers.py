"""The registry of classifiers: one spelling for the config check, the rules, cross-validation
and fusion.

Each entry says how to build its model and what it reads. The builders import scikit-learn (or
torch) inside, so the config check can read the names at every DAG build without loading them;
:func:`trimodal.learn.pipeline.make_classifier` puts the entry's scaler and, for raw text, a
vectorizer in front. A new classifier is one :func:`register_classifier` call
(docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClassifierKind:
    """build(seed, class_weight, proba, params) -> an sklearn estimator.

    scaler: what goes in front of pooled vectors: ``standard`` (StandardScaler), ``unit``
    (StandardScaler, then rows of mean squared norm 1: :func:`trimodal.learn.estimators.unit_rows`),
    ``minmax`` (non-negative inputs, for naive Bayes on counts) or ``none``.
    dense: needs a dense matrix after a text vectorizer.
    raw_text: the model reads the raw strings of a ``:text`` feature set itself (no vectorizer,
    no scaler; pooled vectors are refused).
    """

    name: str
    build: Callable[..., Any]
    scaler: str = "standard"
    dense: bool = False
    raw_text: bool = False


CLASSIFIERS: dict[str, ClassifierKind] = {}


def register_classifier(name: str, build: Callable[..., Any], **kind: Any) -> None:
    CLASSIFIERS[name] = ClassifierKind(name, build, **kind)


def vector_classifiers() -> list[str]:
    """The classifiers that take pooled vectors (every one but the raw-text readers)."""
    return sorted(n for n, k in CLASSIFIERS.items() if not k.raw_text)


# --------------------------------------------------------------------------- built-ins


def _ovr_linear_svc(seed, cw, proba, p):  # liblinear's defaults (tol, max_iter); dual by n vs d
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    from trimodal.learn.estimators import svm_proba

    svc = LinearSVC(**{"class_weight": cw, "random_state": seed, "dual": "auto", **p})
    return svm_proba(OneVsRestClassifier(svc), proba)


def _svc(seed, cw, proba, p):
    from sklearn.svm import SVC

    from trimodal.learn.estimators import svm_proba

    return svm_proba(SVC(class_weight=cw, random_state=seed, **p), proba)


def _ovr_svc(seed, cw, proba, p):
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVC

    from trimodal.learn.estimators import svm_proba

    return svm_proba(OneVsRestClassifier(SVC(class_weight=cw, random_state=seed, **p)), proba)


def _mlp(seed, cw, proba, p):  # MLPClassifier has no class_weight; use rebalance=True for that
    from trimodal.learn.estimators import SmallClassMLP

    defaults = {
        "hidden_layer_sizes": (128,),
        "alpha": 1e-3,
        "early_stopping": True,
        "n_iter_no_change": 20,  # tiny validation splits are noisy: be patient
        "batch_size": 32,
        "max_iter": 500,
        "random_state": seed,
    }
    return SmallClassMLP(**{**defaults, **p})


def _hgb(seed, cw, proba, p):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        **{"class_weight": cw, "random_state": seed, "max_iter": 100, **p}
    )


def _gaussian_nb(seed, cw, proba, p):
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(**p)


def _multinomial_nb(seed, cw, proba, p):
    from sklearn.naive_bayes import MultinomialNB

    return MultinomialNB(**p)


def _complement_nb(seed, cw, proba, p):
    from sklearn.naive_bayes import ComplementNB

    return ComplementNB(**p)


def _logreg(seed, cw, proba, p):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"class_weight": cw, "max_iter": 2000, "random_state": seed, **p})


def _finetune(seed, cw, proba, p):
    """A transformer with a fresh head fine-tuned on the raw texts (the original study's
    DistilBERT); class weights and SVM probabilities do not apply to it."""
    from trimodal.learn.finetune import FinetunedTextClassifier

    return FinetunedTextClassifier(random_state=seed, **p)


register_classifier("ovr_linear_svc", _ovr_linear_svc, scaler="unit")
register_classifier("svc", _svc)
register_classifier("ovr_svc", _ovr_svc)
register_classifier("mlp", _mlp)
register_classifier("hgb", _hgb, scaler="none", dense=True)
register_classifier("gaussian_nb", _gaussian_nb, scaler="none", dense=True)
register_classifier("multinomial_nb", _multinomial_nb, scaler="minmax")
register_classifier("complement_nb", _complement_nb, scaler="minmax")
register_classifier("logreg", _logreg)
register_classifier("finetune", _finetune, scaler="none", raw_text=True)
