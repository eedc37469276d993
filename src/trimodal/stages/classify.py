"""The classify stage: one registered classifier (trimodal.learn.classifiers, the fine-tuned
transformer included) cross-validated on one feature set of one label set: a CV result with
out-of-fold probabilities."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("trimodal")


def classify_one(
    *,
    store_path: str,
    pooling: str,
    labels_tsv: str,
    label_set: str,
    classifier: str,
    cv: dict,
    options: dict,
    output: str,
):
    """Cross-validate one classifier on one feature set; write OOF predictions and metrics.

    options may name a `base` classifier (so that e.g. `ovr_linear_svc_rebalanced` is
    `ovr_linear_svc` with `rebalance: true`, and the configured fine-tuning is `finetune`);
    they are taken apart and checked by :class:`~trimodal.learn.classifier_spec.ClassifierSpec`,
    which the config check uses too, so a job refuses exactly the options the check refuses.
    """
    from trimodal.learn.classifier_spec import ClassifierSpec
    from trimodal.learn.classify import evaluate_feature_set
    from trimodal.learn.cv import protocol_folds

    spec = ClassifierSpec.split(classifier, options)  # base, build options, search
    problems = spec.problems(("classify", "options", classifier))  # the config check's verdict
    if problems:
        raise ValueError("; ".join(problems))
    result = evaluate_feature_set(
        f"{Path(store_path).stem}:{pooling}",
        labels_tsv,
        spec.base,
        features_dir=Path(store_path).parent,
        label_set=label_set,
        folds=protocol_folds(cv),  # a number of folds, or "split" (trimodal.learn.cv)
        seed=int(cv.get("seed", 0)),
        **spec.without_base(),
    )
    result.classifier = classifier
    result.to_h5(output)
    log.info("%s", result.summary())
    return result
