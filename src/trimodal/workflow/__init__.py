"""The workflow's planning, importable without Snakemake (the top layer).

``plan`` (:class:`~trimodal.workflow.plan.Plan`: batches, shard blocks, the files each job reads
and writes, its params, runtimes, GPU resources and targets, from the config and the sheet's
rows) and ``media`` (whether a media file exists and its identity, the one place planning
looks at a media file). The rule files keep the rules and a few lines of glue each.
"""
