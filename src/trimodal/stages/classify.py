"""The classify stage: one classifier cross-validated on one feature set of one label set (a
CV result with out-of-fold probabilities), including the fine-tuned transformer."""

from __future__ import annotations

import logging
from pathlib import Path

from trimodal.device import pick_device

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
    `ovr_linear_svc` with `rebalance: true`); `finetune` fine-tunes a transformer on raw text.
    """
    from trimodal.classify import evaluate_feature_set

    options = dict(options)
    base = options.pop("base", classifier)
    folds, seed = int(cv.get("folds", 5)), int(cv.get("seed", 0))
    feature_set = f"{Path(store_path).stem}:{pooling}"
    if base == "finetune":
        result = finetune_feature_set(
            feature_set, labels_tsv, label_set, Path(store_path).parent, folds, seed, options
        )
    else:
        result = evaluate_feature_set(
            feature_set,
            labels_tsv,
            base,
            features_dir=Path(store_path).parent,
            label_set=label_set,
            folds=folds,
            seed=seed,
            **options,
        )
    result.classifier = classifier
    result.to_h5(output)
    log.info("%s", result.summary())
    return result


def finetune_feature_set(feature_set, labels_tsv, label_set, features_dir, folds, seed, options):
    """A transformer fine-tuned per fold on raw text (kind `finetune`), as a CVResult, on the
    label set's folds (groups kept on one side) like every other evaluation."""
    import numpy as np

    from trimodal.classify import (
        CVResult,
        align,
        coverage,
        feature_set_modality,
        feature_set_provenance,
        load_feature_set,
        load_labels,
        score_fold,
    )
    from trimodal.cv import NotEvaluated, check_evaluable, label_set_folds
    from trimodal.finetune import finetune_cv
    from trimodal.models import describe_model

    options = dict(options)
    model = options.pop("model", "sentence-transformers/all-MiniLM-L6-v2")
    device = pick_device(options.pop("device", "auto"))
    labels = load_labels(labels_tsv)
    modality = feature_set_modality(feature_set, features_dir)
    weights = describe_model(model)
    provenance = {  # the text store, and the model that was fine-tuned on it
        feature_set: feature_set_provenance(feature_set, features_dir),
        f"{feature_set} (fine-tuned)": {
            "store": "",
            "extractor": "finetune",
            "kind": "finetune",
            "model": model,
            "weights_sha256": weights.get("model_fingerprint", ""),
            "params": dict(options),
            "code": "",
            "packages": {},
        },
    }
    n_missing = len(labels)
    try:
        texts, ids, modality = load_feature_set(feature_set, features_dir)
        n_missing = coverage(ids, labels)["n_missing_features"]
        fset = label_set_folds(labels, folds, seed)
        texts, y, ids, _ = align(texts, ids, labels)
        fold = fset.of(ids)
        check_evaluable(y, fold)  # before loading any model
    except NotEvaluated as e:
        log.warning("%s / finetune: %s", feature_set, e.reason)
        return CVResult.skipped(
            e.reason,
            feature_set=feature_set,
            classifier="finetune",
            label_set=label_set,
            modality=modality,
            folds_requested=folds,
            seed=seed,
            n_missing=n_missing,
            options={"model": model},
            provenance=provenance,
        )
    proba, classes, info = finetune_cv(
        list(texts), y, model, folds=folds, seed=seed, device=device, fold=fold, **options
    )
    classes = np.asarray(classes, dtype=object)
    y_pred = classes[proba.argmax(axis=1)]
    scores = {}
    for f in info:
        te = np.asarray(f["test_idx"])
        score_fold(scores, y[np.asarray(f["train_idx"])], y[te], y_pred[te], classes)
        scores.setdefault("fit_time_s", []).append(float(f.get("fit_time_s", 0.0)))
    return CVResult(
        feature_set=feature_set,
        classifier="finetune",
        classes=classes,
        ids=ids,
        y_true=y,
        y_pred=y_pred,
        proba=proba,
        fold=fold,
        scores={k: np.asarray(v) for k, v in scores.items()},
        label_set=label_set,
        modality=modality,
        n_folds=len(info),
        folds_requested=folds,
        seed=seed,
        note="; ".join(filter(None, [fset.note, f"fine-tuned {model}"])),
        n_missing=n_missing,
        options={"model": model},
        provenance=provenance,
    )
