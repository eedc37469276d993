"""Stores: what extraction leaves behind, and how it is read.

``features`` (results/features/<name>.h5: pooled vectors, windows, texts, tables, failures;
``load_pooled`` and friends), ``feature_sets`` (a store read as a classifier's input,
"<extractor>:<pooling>", and its provenance), ``reuse`` (the per-video content-addressed cache
that lets batch jobs rerun per video), ``rows`` (several stores' rows on the videos they all
have: early fusion, cross-modal pairs), ``timeline`` (every modality's windows on one clock).

Add a reader or a new kind of stored data here.
"""
