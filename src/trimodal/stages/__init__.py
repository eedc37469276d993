"""Stages: the entry points of the rule families, each called by its workflow/scripts adapter.

One module per rule family (probe, extract, store, labels, classify, fuse, crossmodal, clip,
distinct_frames, report) and ``config_check``, the whole configuration checked when the workflow is planned.
Stages sit on top: they may import everything below, nothing imports them.

Add a stage: a module here, a thin script under workflow/scripts and its rule.
"""
