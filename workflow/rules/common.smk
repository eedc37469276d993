# Helpers shared by all the rule files (configuration and sample-sheet validation, wildcard
# constraints, and the input functions that map a job to its files).
import json
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from trimodal.batching import batch_size, make_batches
from trimodal.codehash import PLUGINS
from trimodal.codehash import code_hash as _code_hash
from trimodal.config_check import check_config, fill_modalities, format_problems
from trimodal.reuse import file_identity
from trimodal.sheet import ID_PATTERN, SheetError, load_sheet
from trimodal.types import FeatureSet
from trimodal.fusion_kinds import FUSION_KINDS
from trimodal.plugins import load_plugins
from trimodal.userror import fail

min_version("9.0")


# Every configuration problem (schema, extractor params, names that refer to each other,
# models missing offline) in one message before any job; validate() then fills the defaults.
_config_problems = check_config(
    config,
    schema=Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml",
)
if _config_problems:
    fail(format_problems(_config_problems))
validate(config, schema="../schemas/config.schema.yaml")
fill_modalities(config)  # each extractor's modality, as its kind declares it

# Packaged model files are assembled once into this cache (see trimodal.models).
os.environ.setdefault(
    "TRIMODAL_MODEL_CACHE",
    str(Path(config["model_cache"]).resolve()),
)

# The sheet is checked before any job runs: bad columns, ids, duplicates and missing files
# stop the run with one message naming every bad line, and no traceback (trimodal.userror).
try:
    samples = load_sheet(config["samples"])
except (SheetError, OSError) as e:
    fail(str(e))
validate(
    samples.drop(columns=["description_flag"]), schema="../schemas/samples.schema.yaml"
)

VIDEO_IDS = list(samples.index)
# plain dicts: input functions run once per job, and pandas .loc is slow at 60k jobs
ROWS = samples.to_dict("index")
EXTRACTORS = config["extractors"]


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
    return code_hash(source, "trimodal.stages.extract")


def extract_params(name):
    spec = EXTRACTORS[name]
    params = dict(
        extractor=name,
        kind=spec["kind"],
        modality=spec["modality"],
        model=spec.get("model"),
        params=spec["params"],
        code=extractor_code(spec["kind"]),
        device=config["device"],
    )
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


BATCHES = {
    name: make_batches(VIDEO_IDS, batch_size(spec["batch"], N_VIDEOS))
    for name, spec in EXTRACTORS.items()
    if is_batched(name)
}
BATCH_OF = {
    name: {vid: b for b, vids in batches.items() for vid in vids}
    for name, batches in BATCHES.items()
}
PROBE_BATCHED = str(PROBE_CFG["batch"]) != "1"
PROBE_BATCHES = (
    make_batches(VIDEO_IDS, batch_size(PROBE_CFG["batch"], N_VIDEOS))
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


def probe_batch_inputs(wildcards):
    return sorted(
        {
            f
            for vid in PROBE_BATCHES[wildcards.batch]
            for f in (ROWS[vid]["video"], ROWS[vid]["ad_audio"])
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
        }
        for vid in PROBE_BATCHES[wildcards.batch]
    ]


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
        deps["video"] = files["video"] = row["video"]
    if modality == "audio" and row["ad_audio"]:
        deps["ad_audio"] = files["ad_audio"] = row["ad_audio"]
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
    files = {"sheet": config["samples"]}
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
    if classifier == "finetune":
        return {"base": "finetune", **cfg.get("finetune", {}).get("params", {})}
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


def shard_video_ids(shard):
    """Videos of shard "i/n" (1-based): every n-th video of the sorted ids, deterministic.

    Several machines sharing a filesystem each run `--config shard=i/n`; a final run without
    a shard aggregates the stores and executes no extract job.
    """
    i, n = (int(x) for x in str(shard).split("/"))
    if not 1 <= i <= n:
        raise WorkflowError(f"shard must be i/n with 1 <= i <= n, got {shard}")
    return [v for k, v in enumerate(sorted(VIDEO_IDS)) if k % n == i - 1]


def all_targets():
    if config.get("shard"):
        shard_ids = shard_video_ids(config["shard"])  # validates "i/n"
        i, n = (int(x) for x in str(config["shard"]).split("/"))
        targets = []
        for name in EXTRACTORS:
            if (
                name in BATCHES
            ):  # every n-th batch: a batch is never split across shards
                batches = sorted(BATCHES[name])[i - 1 :: n]
                targets += [batch_dir(name, b) for b in batches]
            else:
                targets += [video_file(name, v) for v in shard_ids]
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
