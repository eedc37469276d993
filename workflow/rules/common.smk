# What all the rules share: the sample sheet and the configuration, checked before any job
# (one message naming every problem), the plan (trimodal.workflow.plan: batches, files, params,
# resources), the code hash of a rule's modules, GPU resources and the forced-run marker.
# Glue for the plan: paths.smk; what to build: targets.smk.
import json
import re
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version, validate

from trimodal.plumbing.codehash import PLUGINS
from trimodal.plumbing.codehash import code_hash as _code_hash
from trimodal.plumbing.codehash import package_versions
from trimodal.plumbing.device import plan_uses_cuda, visible_gpus
from trimodal.stages.config_check import check_config, fill_modalities, format_problems
from trimodal.stages.config_check import (
    circular_pairs,
    circular_warnings,
    sheet_problems,
)
from trimodal.store.reuse import across_versions, cache_dir, mark_forced
from trimodal.corpus.sheet import ID_PATTERN, SheetError, absent_media, header_columns
from trimodal.corpus.sheet import load_sheet, sheet_flags
from trimodal.workflow.plan import GPU_RETRIES, Plan, PlanError, store_path, unique
from trimodal.workflow import media as plan_media
from trimodal.workflow.storage import Storage, announce_storage_copies
from trimodal.domain import FeatureSet
from trimodal.fusion.kinds import FUSION_KINDS
from trimodal.plumbing.plugins import load_plugins
from trimodal.plumbing.userror import fail

min_version("9.0")


# The sheet is read first so that the check below knows its columns and labels (a header
# `Label`, a merge of a label the sheet does not have); its own problems are reported after
# the configuration's, in the same message. `missing_media: skip` keeps a row whose video or
# AD file is absent (a failed download): its probe and media extractors write error records
# (stage `missing`), its text features are computed; the absent files are no job's input
# (Snakemake would look for a rule making them).
MISSING_MEDIA = config.get("missing_media", "error")
# Media in object storage (trimodal.workflow.storage): an s3:// row, or every row under a
# default storage provider, is checked through the provider (absent objects in bulk), never
# with os.path; the sheet itself is read from the local disk.
STORAGE = Storage.from_workflow(workflow, storage)
plan_media.configure(STORAGE)
announce_storage_copies(workflow)  # the reuse cache keys the jobs' copies by content
_sheet_error, samples = None, None
try:
    samples = load_sheet(config["samples"], missing_media=MISSING_MEDIA, files=STORAGE)
except (SheetError, OSError, KeyError, TypeError) as e:
    _sheet_error = str(e)
# Every configuration problem (schema, extractor params, names that refer to each other,
# models missing offline) in one message before any job; validate() then fills the defaults.
_config_problems = check_config(
    config,
    sheet_columns=header_columns(config["samples"]) if samples is not None else None,
    schema=Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml",
    sheet_labels=set(samples["label"]) - {""} if samples is not None else None,
)
if _config_problems or _sheet_error:
    fail(
        "\n\n".join(
            [format_problems(_config_problems)] * bool(_config_problems)
            + [_sheet_error] * bool(_sheet_error)
        )
    )
# a circular label set / feature set pair: a warning, not a stop (the user may mean it)
for _warning in circular_warnings(config):
    logger.warning(f"WARNING: {_warning}")
validate(config, schema="../schemas/config.schema.yaml")
fill_modalities(config)  # each extractor's modality, as its kind declares it

# Packaged model files are assembled once into this cache (see trimodal.plumbing.models).
os.environ.setdefault(
    "TRIMODAL_MODEL_CACHE",
    str(Path(config["model_cache"]).resolve()),
)

# The sheet is checked before any job runs: bad columns, ids, duplicates and missing files
# stop the run with one message naming every bad line, and no traceback (trimodal.plumbing.userror).
ABSENT = absent_media(samples, files=STORAGE) if MISSING_MEDIA == "skip" else {}
if ABSENT:
    print(
        f"missing_media: skip: {len(ABSENT)} of {len(samples)} row(s) have an absent media "
        f"file and are skipped by the probe and the media extractors (error records, stage "
        f"missing; text features still computed), e.g. {', '.join(list(ABSENT)[:5])}",
        file=sys.stderr,
    )
validate(
    samples.drop(columns=["description_flag"]), schema="../schemas/samples.schema.yaml"
)
_sheet_problems = sheet_problems(config, samples)  # split protocol, language column
if _sheet_problems:
    fail(format_problems(_sheet_problems))

VIDEO_IDS = list(samples.index)
SHEET_COLUMNS = list(samples.columns)
# plain dicts: input functions run once per job, and pandas .loc is slow at 60k jobs
ROWS = samples.to_dict("index")
EXTRACTORS = config["extractors"]
try:
    PLAN = Plan(config, ROWS, ABSENT)
except PlanError as e:
    raise WorkflowError(str(e))


# The code a job runs is part of its params: code_hash covers every trimodal module that the
# entry modules import (trimodal.plumbing.codehash), so editing media/frames.py reruns the video
# extractors and not the text ones; editing learn/classify.py reruns classification only.
# tests/workflow/test_code_triggers.py edits every module and checks the plan against its table.
_CODE_HASHES = {}


def code_hash(*modules):
    if modules not in _CODE_HASHES:
        _CODE_HASHES[modules] = _code_hash(*modules)
    return _CODE_HASHES[modules]


def extractor_code(kind):
    """The code hash of an extractor's jobs: the closure of its kind's module, the per-video
    compute and writer and the scripts it launches (trimodal.extractors.base.code_modules),
    modules that shape no output left out (trimodal.plumbing.codehash.NOT_SHAPING)."""
    from trimodal.extractors.base import code_modules, extractor_target

    source = extractor_target(kind)[0]
    # a plug-in extractor: its own file counts too
    if not source.startswith("trimodal."):
        PLUGINS.add(source)
    return code_hash(*code_modules(kind))


def extractor_packages(kind, spec=None):
    """Versions of the libraries the extractor's code imports, and of its back-end in another
    interpreter (TensorFlow; needs the extractor's `spec`), none with
    `cache: {across_versions: true}`: an upgrade reruns its jobs, which recompute."""
    if across_versions(config):
        return {}
    from trimodal.extractors.base import extractor_target, get_extractor_class

    out = package_versions(extractor_target(kind)[0])
    if spec is not None:
        model, params = spec.get("model"), spec.get("params") or {}
        out.update(get_extractor_class(kind).backend_versions(model, params))
    return dict(sorted(out.items()))


# GPUs as a resource (trimodal.plumbing.device): on a plan that will run on CUDA, a job whose work goes
# to the GPU (its class says so: Extractor.uses_gpu) declares gpu=1 (the SLURM plugin maps it to
# --gpus); locally they are capped at the machine's GPUs unless --resources gpu=N says
# otherwise, and each job claims one free GPU at its start. A GPU job that runs out of memory
# fails and is retried with half the batch (GPU_RETRIES times). A plan without CUDA (device
# cpu, or auto without a GPU) declares nothing.
PLAN_GPUS = visible_gpus()
if PLAN_GPUS and workflow.local_exec and "gpu" not in workflow.global_resources:
    # local runs only: on a cluster the scheduler gives each job its GPUs
    workflow.register_resource("gpu", len(PLAN_GPUS))
if "gpu" in workflow.global_resources:
    _gpu_cap = workflow.global_resources.get("gpu")
    logger.info(f"GPU jobs: at most {getattr(_gpu_cap, 'value', _gpu_cap)} at a time")


def gpu_resources(device, uses_gpu=True):
    """Resources of a job that runs on `device` (config value) when it uses a GPU at all."""
    return PLAN.gpu_resources(uses_gpu and plan_uses_cuda(device))


def extract_gpu(name):
    return PLAN.extract_gpu(name)


def learner_gpu(uses_gpu, device):
    """Resources of a learner job: gpu=1 where `uses_gpu(wildcards)` (a network that takes
    the GPU under `device`), 0 for the others; nothing without CUDA."""
    if not plan_uses_cuda(device):
        return {}
    return {
        "gpu": lambda wc: int(uses_gpu(wc)),
        "gpu_attempt": lambda wc, attempt: attempt,
    }


def gpu_retries(resources):
    return GPU_RETRIES if resources else 0


def mark_forced_extractors():
    """--forcerun extract_<name> / --forceall: Snakemake tells a job nothing, so the main
    process (onstart: a real run, not a dry run) leaves a marker in .snakemake/; cache entries
    written before it are not reused (trimodal.store.reuse), so every video of that extractor
    recomputes.
    """
    dag = workflow.dag_settings
    if dag is None or not cache_dir(config):
        return
    forced = {str(t).rstrip("/") for t in dag.forcerun or ()}
    for name in EXTRACTORS:
        outputs = f"results/extract/{name}/"  # a forced output of the rule counts too
        if (
            dag.forceall
            or f"extract_{name}" in forced
            or any(t.startswith(outputs) for t in forced)
        ):
            mark_forced(name)
