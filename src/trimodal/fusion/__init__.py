"""Fusion: early, intermediate and late fusion of the modalities, scored on the same folds.

``evaluate`` (early / late fusion evaluations), ``kinds`` (the registry: FUSION_KINDS),
``net`` (the intermediate-fusion network).

Add a fusion kind: register it (docs/architecture.md, "Recipe: add a fusion kind").
"""
