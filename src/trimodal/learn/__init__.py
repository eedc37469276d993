"""Learning: cross-validation, classifiers and the estimators they are built from.

``cv`` (the one fold maker), ``pipeline`` (make_classifier), ``classify`` (run_cv, evaluate_feature_set),
``results`` (CVResult and its file, the per-fold scores and the majority baseline),
``classifiers`` (the registry: CLASSIFIERS), ``estimators`` (DecisionSoftmax and helpers),
``text`` (the TF-IDF / count vectorizer in front of bag-of-words classifiers),
``rebalance`` (RebalancedClassifier: resampling inside each training fold),
``training`` (the one torch loop with early stopping), ``finetune`` (the fine-tuned text
classifier), ``tuning`` (NestedSearch: settings chosen by an inner CV inside each outer
training fold).

Add a classifier: register a builder (docs/architecture.md, "Recipe: add a classifier").
"""
