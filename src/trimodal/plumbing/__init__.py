"""Plumbing: what every part of the pipeline uses and none of it is about videos.

Atomic writes (atomic), batches of sheet rows (batching), the code hash of a rule's modules
(codehash), device choice (device), job logs (joblog), per-job memory and time guards (limits),
model resolution offline/online (models), plug-in module loading (plugins), progress bars
(progress), each job's thread and GPU budget (threads) and user-facing errors (userror). The
domain's shared types (VideoItem, Features, FeatureSet, ExtractionError) are in
``trimodal.domain``.

Add here only infrastructure with no pipeline logic; it imports nothing above it.
"""
