# Helpers shared by all the rule files (configuration and sample-sheet validation, wildcard
# constraints, and the input functions that map a job to its files).
import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version, validate

from trimodal.batching import batch_size, make_batches
from trimodal.codehash import PLUGINS
from trimodal.codehash import code_hash as _code_hash
from trimodal.codehash import package_versions
from trimodal.device import plan_uses_cuda, visible_gpus
from trimodal.config_check import check_config, fill_modalities, format_problems
from trimodal.config_check import circular_pairs, circular_warnings, sheet_problems
from trimodal.reuse import across_versions, cache_dir, file_identity, mark_forced
from trimodal.sheet import ID_PATTERN, SheetError, absent_media, header_columns
from trimodal.sheet import load_sheet, row_span
from trimodal.types import FeatureSet
from trimodal.fusion_kinds import FUSION_KINDS
from trimodal.plugins import load_plugins
from trimodal.userror import fail

min_version("9.0")


# The sheet is read first so that the check below knows its columns and labels (a header
# `Label`, a merge of a label the sheet does not have); its own problems are reported after
# the configuration's, in the same message. `missing_media: skip` keeps a row whose video or
# AD file is absent (a failed download): its probe and media extractors write error records
# (stage `missing`), its text features are computed; the absent files are no job's input
# (Snakemake would look for a rule making them).
MISSING_MEDIA = config.get("missing_media", "error")
_sheet_error, samples = None, None
try:
    samples = load_sheet(config["samples"], missing_media=MISSING_MEDIA)
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

# Packaged model files are assembled once into this cache (see trimodal.models).
os.environ.setdefault(
    "TRIMODAL_MODEL_CACHE",
    str(Path(config["model_cache"]).resolve()),
)

# The sheet is checked before any job runs: bad columns, ids, duplicates and missing files
# stop the run with one message naming every bad line, and no traceback (trimodal.userror).
ABSENT = absent_media(samples) if MISSING_MEDIA == "skip" else {}
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
HAS_SPANS = "start" in samples.columns  # segment rows: a time span of their video
# plain dicts: input functions run once per job, and pandas .loc is slow at 60k jobs
ROWS = samples.to_dict("index")
EXTRACTORS = config["extractors"]
# kinds that never run on a GPU (no model, or an onnxruntime CPU session)
CPU_ONLY_KINDS = {"text_raw", "yamnet"}


# The code a job runs is part of its params: code_hash covers every trimodal module that the
# entry module imports (trimodal.codehash), so editing media/frames.py reruns the video
# extractors and not the text ones; editing classify.py reruns classification only.
_CODE_HASHES = {}


def code_hash(*modules):
    if modules not in _CODE_HASHES:
        _CODE_HASHES[modules] = _code_hash(*modules)
    return _CODE_HASHES[modules]


def extractor_code(kind):
    from trimodal.extractors.base import extractor_target

    source = extractor_target(kind)[0]
    if not source.startswith(
        "trimodal."
    ):  # a plug-in extractor: its own file counts too
        PLUGINS.add(source)
    # the extractor's module and what it computes with (decoding, pooling), not the batch
    # loop, progress, atomic writing or the cache (trimodal.codehash.PLUMBING)
    return code_hash(source)


def extractor_packages(kind):
    """Versions of the libraries the extractor's code imports (none with
    `cache: {across_versions: true}`): an upgrade reruns its jobs, which recompute."""
    if across_versions(config):
        return {}
    from trimodal.extractors.base import extractor_target

    return package_versions(extractor_target(kind)[0])


# GPUs as a resource (trimodal.device): on a plan that will run on CUDA, a job whose work goes
# to the GPU declares gpu=1 (the SLURM plugin maps it to --gpus); locally they are capped at
# the machine's GPUs unless --resources gpu=N says otherwise, and each job claims one free GPU
# at its start. A GPU job that runs out of memory fails and is retried with half the batch
# (GPU_RETRIES times). A plan without CUDA declares nothing.
GPU_RETRIES = 2
PLAN_GPUS = visible_gpus()
if PLAN_GPUS and workflow.local_exec and "gpu" not in workflow.global_resources:
    # local runs only: on a cluster the scheduler gives each job its GPUs
    workflow.register_resource("gpu", len(PLAN_GPUS))
if "gpu" in workflow.global_resources:
    _gpu_cap = workflow.global_resources.get("gpu")
    logger.info(f"GPU jobs: at most {getattr(_gpu_cap, 'value', _gpu_cap)} at a time")


def gpu_resources(device, uses_gpu=True):
    """Resources of a job that runs on `device` (config value) when it uses a GPU at all."""
    if not (uses_gpu and plan_uses_cuda(device)):
        return {}
    return {"gpu": 1, "gpu_attempt": lambda wc, attempt: attempt}


def extract_gpu(name):
    spec = EXTRACTORS[name]
    uses = spec["kind"] not in CPU_ONLY_KINDS and not str(
        spec.get("model") or ""
    ).endswith("onnx")
    return gpu_resources(config["device"], uses)


def learner_gpu(uses_gpu, device="auto"):
    """Resources of a learner job: gpu=1 where `uses_gpu(wildcards)` (a network that takes
    the GPU with its default device "auto"), 0 for the others; nothing without CUDA."""
    if not plan_uses_cuda(device):
        return {}
    return {
        "gpu": lambda wc: int(uses_gpu(wc)),
        "gpu_attempt": lambda wc, attempt: attempt,
    }


def gpu_retries(resources):
    return GPU_RETRIES if resources else 0


def extract_params(name):
    spec = EXTRACTORS[name]
    params = dict(
        extractor=name,
        kind=spec["kind"],
        modality=spec["modality"],
        model=spec.get("model"),
        params=spec["params"],
        code=extractor_code(spec["kind"]),
        packages=extractor_packages(spec["kind"]),
        device=config["device"],
    )
    # a segment's span (batched jobs carry it in their `batch` param)
    if HAS_SPANS and not is_batched(name):
        params["span"] = lambda wc: span_param(wc.video_id).get("span")
    if reads_description(name) and not is_batched(name):
        # the description is a param of text jobs only: editing one reruns that video's
        # text features; media paths are inputs, so they need no param (batched jobs carry
        # it in their `batch` param)
        params["description"] = lambda wc: ROWS[wc.video_id]["description"]
    return params


# Batches (trimodal.batching): by default every probe and extract job takes a batch of
# consecutive sheet rows, sized from the number of videos; `batch: 1` keeps one job per video.
N_VIDEOS = len(VIDEO_IDS)
PROBE_CFG = config["probe"]


def is_batched(name):
    return str(EXTRACTORS[name]["batch"]) != "1"


# Shards (`--config shard=i/n`, machines sharing a filesystem): the sheet is cut into n
# contiguous blocks and every batch (probe, each extractor, text sources) lies inside one
# block, so concurrent shards share no job; `shard=all/n` aggregates with the same batches.
def parse_shard(value):
    if not value:
        return None, 1
    i, n = str(value).split("/")
    n = int(n)
    if i != "all" and not 1 <= int(i) <= n:
        raise WorkflowError(
            f"shard must be i/n with 1 <= i <= n, or all/n; got {value}"
        )
    return (None if i == "all" else int(i)), n


SHARD, N_SHARDS = parse_shard(config.get("shard"))
SHARD_BLOCKS = [
    VIDEO_IDS[k * N_VIDEOS // N_SHARDS : (k + 1) * N_VIDEOS // N_SHARDS]
    for k in range(N_SHARDS)
]


def shard_batches(size):
    """make_batches within each shard block, numbered b00000... across blocks (one block: the
    unsharded layout)."""
    vids = [v for block in SHARD_BLOCKS for v in make_batches(block, size).values()]
    return {f"b{k:05d}": v for k, v in enumerate(vids)}


BATCHES = {
    name: shard_batches(batch_size(spec["batch"], N_VIDEOS))
    for name, spec in EXTRACTORS.items()
    if is_batched(name)
}
BATCH_OF = {
    name: {vid: b for b, vids in batches.items() for vid in vids}
    for name, batches in BATCHES.items()
}
PROBE_BATCHED = str(PROBE_CFG["batch"]) != "1"
PROBE_BATCHES = (
    shard_batches(batch_size(PROBE_CFG["batch"], N_VIDEOS))
    if PROBE_BATCHED
    else {}
)
PROBE_BATCH_OF = {vid: b for b, vids in PROBE_BATCHES.items() for vid in vids}


def probe_file(video_id):
    """The probe JSON of a video (inside its probe batch's folder when batched)."""
    if PROBE_BATCHED:
        return f"results/probe/batches/{PROBE_BATCH_OF[video_id]}/{video_id}.json"
    return f"results/probe/{video_id}.json"


def probe_dep(video_id):
    """The output that holds a video's probe: its batch folder, or the file itself."""
    if PROBE_BATCHED:
        return f"results/probe/batches/{PROBE_BATCH_OF[video_id]}"
    return probe_file(video_id)


def present(video_id, col):
    """The row's file in `col` when it is an input (given, and not absent under
    missing_media: skip), else None."""
    path = ROWS[video_id].get(col) or None
    return None if col in ABSENT.get(video_id, ()) else path


def probe_batch_inputs(wildcards):
    return sorted(
        {
            f
            for vid in PROBE_BATCHES[wildcards.batch]
            for f in (present(vid, "video"), present(vid, "ad_audio"))
            if f
        }
    )


def media_identity(video_id):
    """What the probe's params know of a video's files, so that a file replaced in place with
    its old mtime (cp -p, rsync -t) still reruns its jobs: the size (a stat, as cheap as the
    mtime check), plus a hash of three 64 KiB blocks with `probe: {fingerprint: true}`.
    """
    out = {}
    for col in ("video", "ad_audio"):
        path = ROWS[video_id][col]
        if path and os.path.exists(path):
            if PROBE_CFG["fingerprint"]:
                ident = file_identity(path)
                out[col] = f"{ident['size']}:{ident['blocks']}"
            else:
                out[col] = os.stat(path).st_size
    return out


def probe_batch_params(wildcards):
    return [
        {
            "video_id": vid,
            "video": ROWS[vid]["video"],
            "ad_audio": ROWS[vid]["ad_audio"] or None,
            "output": probe_file(vid),
            "identity": media_identity(vid),
            **span_param(vid),
        }
        for vid in PROBE_BATCHES[wildcards.batch]
    ]


def span_param(video_id):
    """{"span": [start, end]} for a segment row (a time span of its video), else {}: a param
    of its probe and extract jobs, so editing a span reruns that row only."""
    span = row_span(ROWS[video_id])
    return {"span": list(span)} if span else {}


def batch_dir(name, batch):
    return f"results/extract/{name}/batches/{batch}"


def video_file(name, video_id):
    """Where extractor `name` writes its per-video file for `video_id`."""
    if name in BATCHES:
        return f"{batch_dir(name, BATCH_OF[name][video_id])}/{video_id}.h5"
    return f"results/extract/{name}/{video_id}.h5"


def unique_deps(paths):
    """Distinct paths, first-seen order (a batch folder holds many videos)."""
    return list(dict.fromkeys(paths))


def video_dep(name, video_id):
    """The output that holds that file: the file itself, or its batch's folder."""
    if name in BATCHES:
        return batch_dir(name, BATCH_OF[name][video_id])
    return video_file(name, video_id)


def _video_inputs(name, video_id):
    """A video's named inputs for extractor `name` (the dependencies), and the files the
    job reads (the probe JSON inside a batch folder)."""
    row = ROWS[video_id]
    deps = {"probe": probe_dep(video_id)}
    files = {"probe": probe_file(video_id)}
    modality = EXTRACTORS[name]["modality"]
    if modality == "video" or modality == "audio":
        files["video"] = row["video"]
        # an absent file (missing_media: skip) is no input
        if present(video_id, "video"):
            deps["video"] = row["video"]
    if modality == "audio" and row["ad_audio"]:
        files["ad_audio"] = row["ad_audio"]
        if present(video_id, "ad_audio"):
            deps["ad_audio"] = row["ad_audio"]
    reads_ad = EXTRACTORS[name].get("params", {}).get("source") == "ad_audio"
    if modality == "audio" and reads_ad and row.get("ad_map") and row["ad_audio"]:
        files["ad_map"] = row["ad_map"]
        if os.path.exists(row["ad_map"]):
            deps["ad_map"] = row["ad_map"]
    for source, producer in text_source_extractors(name).items():
        deps[f"text_{source}"] = video_dep(producer, video_id)
        files[f"text_{source}"] = video_file(producer, video_id)
    return deps, files


def batch_inputs(name):
    def inputs(wildcards):
        return sorted(
            {
                f
                for vid in BATCHES[name][wildcards.batch]
                for f in _video_inputs(name, vid)[0].values()
            }
        )

    return inputs


def reads_description(name):
    """A text extractor that embeds the sheet's description (its `sources`)."""
    spec = EXTRACTORS[name]
    sources = spec["params"].get("sources") or ["description"]
    return spec["modality"] == "text" and bool({"description", "all"} & set(sources))


def batch_params(name):
    """Per video of the batch: its files, output, and (extractors that read it) its
    description, so that editing one description reruns only the batches that embed it.
    """
    text = reads_description(name)

    def params(wildcards):
        out = []
        for vid in BATCHES[name][wildcards.batch]:
            entry = {
                "video_id": vid,
                "files": _video_inputs(name, vid)[1],
                "output": video_file(name, vid),
                **span_param(vid),
            }
            if text:
                entry["description"] = ROWS[vid]["description"]
            out.append(entry)
        return out

    return params


def text_source_extractors(name):
    """Per-video files of the extractors whose text this extractor embeds."""
    sources = EXTRACTORS[name]["params"].get("sources", [])
    mapping = config.get("text_sources", {})
    if "all" in sources:
        sources = list(mapping)
    return {s: mapping[s] for s in sources if s in mapping}


def extract_inputs(name):
    """A per-video job's dependencies (batch folders of batched producers included)."""

    def inputs(wildcards):
        return _video_inputs(name, wildcards.video_id)[0]

    return inputs


def extract_files(name):
    """The files a per-video job reads, by name (inside those folders)."""

    def files(wildcards):
        return _video_inputs(name, wildcards.video_id)[1]

    return files


def extract_resources(name, key, default):
    return EXTRACTORS[name].get("resources", {}).get(key, default)


def runtime_from_probe(name, base_min=2, per_video_minute=1.0):
    """Runtime estimate (minutes) that scales with the videos' duration, for SLURM."""

    def runtime(wildcards, attempt):
        videos = (
            BATCHES[name][wildcards.batch]
            if "batch" in wildcards.keys()
            else [wildcards.video_id]
        )
        minutes = 0.0
        for vid in videos:
            probe = Path(probe_file(vid))
            if probe.exists():
                info = json.loads(probe.read_text()).get("video") or {}
                minutes += (info.get("duration") or 0) / 60.0
        factor = extract_resources(name, "runtime_per_video_minute", per_video_minute)
        return int((base_min + factor * minutes) * attempt)

    return runtime


def label_inputs(wildcards):
    spec = config["labels"]["sets"][wildcards.label_set]
    # the sheet's columns it reads are params (label_rows), not the whole sheet
    files = {}
    language = (spec.get("language") or {}).get("extractor")
    if language:
        files["language"] = store_path(language)
    return files


def store_path(extractor):
    return f"results/features/{extractor}.h5"


def fs_slug(feature_set):
    """ "<extractor>:<pooling>" -> its file-safe "<extractor>.<pooling>" (trimodal.types)."""
    return FeatureSet.parse(feature_set).slug


def fs_store(feature_set):
    """The store a feature set (either spelling) reads."""
    return store_path(FeatureSet.parse(feature_set).extractor)


def classify_options(classifier):
    cfg = config["classify"]
    if classifier == "finetune":  # the top-level device unless its params name one
        params = cfg.get("finetune", {}).get("params", {})
        return {"base": "finetune", "device": config["device"], **params}
    return cfg.get("options", {}).get(classifier, {})


def classify_targets():
    cfg = config["classify"]
    ft = cfg.get("finetune") or {}
    finetune = expand(
        "results/classify/{label_set}/{feature_set}/finetune.h5",
        label_set=ft.get("label_sets", []),
        feature_set=fs_slug(ft["feature_set"]) if ft else [],
    )
    return finetune + expand(
        "results/classify/{label_set}/{feature_set}/{classifier}.h5",
        label_set=cfg["label_sets"],
        feature_set=[fs_slug(fs) for fs in cfg["feature_sets"]],
        classifier=cfg["classifiers"],
    )


def all_targets():
    if SHARD is not None:
        # the probes and per-video files of this block's videos (their batches lie inside it)
        shard_ids = set(SHARD_BLOCKS[SHARD - 1])
        targets = unique_deps(probe_dep(v) for v in VIDEO_IDS if v in shard_ids)
        for name in EXTRACTORS:
            targets += unique_deps(
                video_dep(name, v) for v in VIDEO_IDS if v in shard_ids
            )
        return targets
    targets = [store_path(name) for name in EXTRACTORS]
    targets.append("results/failures.tsv")
    targets += expand(
        "results/report/{label_set}/summary.md",
        label_set=config["classify"]["label_sets"],
    )
    if CROSSMODAL.get("pairs"):
        targets.append("results/report/crossmodal/crossmodal.md")
    return targets


FUSION = config.get("fusion", {}) or {}
# fusion kinds: the registry (trimodal.stages.fuse), with the config's plug-in modules
FUSION_PLUGINS = list(FUSION.get("plugins", []))
load_plugins(FUSION_PLUGINS)
PLUGINS.update(FUSION_PLUGINS)  # their source is part of the fuse rule's code hash
# classifiers: the registry (trimodal.classifiers), with the config's plug-in modules
CLASSIFY_PLUGINS = list(config["classify"].get("plugins", []))
PLUGINS.update(CLASSIFY_PLUGINS)  # part of the classify and fuse rules' code hashes


def fusion_spec(name):
    return FUSION["sets"][name]


def fusion_base_results(label_set, kind, name):
    """Late fusion reads the out-of-fold probabilities of the single-modality evaluations."""
    if FUSION_KINDS[kind].reads != "results":
        return []
    spec = fusion_spec(name)
    clf = spec.get("classifier", "ovr_linear_svc")
    return [
        f"results/classify/{label_set}/{fs_slug(fs)}/{clf}.h5"
        for fs in spec["feature_sets"]
    ]


def fusion_targets():
    out = []
    for name, spec in FUSION.get("sets", {}).items():
        for kind in spec.get("kinds", ["early", "late-stack"]):
            out += expand(
                "results/fusion/{label_set}/{kind}/{name}.h5",
                label_set=config["classify"]["label_sets"],
                kind=kind,
                name=name,
            )
    return out


CROSSMODAL = config.get("crossmodal", {}) or {}
LABEL_SETS = config["classify"]["label_sets"]


def crossmodal_pair_spec(source, target):
    """The crossmodal config restricted to one pair (wildcards use "." for ":")."""
    spec = {k: v for k, v in CROSSMODAL.items() if k not in ("pairs", "label_set")}
    spec["device"] = config["device"]  # the neural methods' device
    spec["pairs"] = [
        {
            "source": str(FeatureSet.parse(source)),
            "target": str(FeatureSet.parse(target)),
        }
    ]
    return spec


def crossmodal_targets():
    return [
        f"results/crossmodal/{fs_slug(p['source'])}__{fs_slug(p['target'])}.tsv"
        for p in CROSSMODAL.get("pairs", [])
    ]


def report_inputs():
    return classify_targets() + fusion_targets()


def label_rows(wildcards):
    """What a label set reads of the sheet: the label, group and split columns of every row,
    the language column of a `language: {column: ...}` filter, and the descriptions only for
    a zero-shot set; editing another column reruns no label job.
    """
    spec = config["labels"]["sets"][wildcards.label_set]
    cols = ["label", "group", "split"]
    cols += [c for c in [(spec.get("language") or {}).get("column")] if c]
    cols += ["description"] if spec.get("from") == "zeroshot" else []
    return {vid: [row.get(c, "") for c in cols] for vid, row in ROWS.items()}


def store_spec(extractor):
    """What of an extractor's spec shapes its store: not resources, batch or timeouts."""
    spec = EXTRACTORS[extractor]
    return {
        k: spec.get(k) for k in ("kind", "modality", "model", "params") if k in spec
    }


def fusion_job_spec(name, kind):
    """A fusion set's spec as one kind's job reads it: without the list of kinds, so adding
    a kind runs only its own job."""
    return {k: v for k, v in fusion_spec(name).items() if k != "kinds"}


def mark_forced_extractors():
    """--forcerun extract_<name> / --forceall: Snakemake tells a job nothing, so the main
    process (onstart: a real run, not a dry run) leaves a marker in .snakemake/; cache entries
    written before it are not reused (trimodal.reuse), so every video of that extractor
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


onstart:
    mark_forced_extractors()
