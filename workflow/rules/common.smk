# Helpers shared by all the rule files (configuration and sample-sheet validation, wildcard
# constraints, and the input functions that map a job to its files).
import hashlib
import json
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from trimodal.config_check import check_config, format_problems
from trimodal.sheet import ID_PATTERN, SheetError, load_sheet

min_version("9.0")


# Every configuration problem (schema, extractor params, names that refer to each other,
# models missing offline) in one message before any job; validate() then fills the defaults.
_config_problems = check_config(
    config,
    schema=Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
)
if _config_problems:
    raise WorkflowError(format_problems(_config_problems)) from None
validate(config, schema="../schemas/config.schema.yaml")

# Packaged model files are assembled once into this cache (see trimodal.models).
os.environ.setdefault(
    "TRIMODAL_MODEL_CACHE",
    str(Path(config.get("model_cache", "resources/models")).resolve()),
)

# The sheet is checked before any job runs: bad columns, ids, duplicates and missing files
# raise one error naming every bad row.
try:
    samples = load_sheet(config["samples"])
except (SheetError, OSError) as e:
    raise WorkflowError(str(e)) from None
validate(
    samples.drop(columns=["description_flag"]), schema="../schemas/samples.schema.yaml"
)

VIDEO_IDS = list(samples.index)
# plain dicts: input functions run once per job, and pandas .loc is slow at 60k jobs
ROWS = samples.to_dict("index")
EXTRACTORS = config["extractors"]


def extractors_of(modality):
    return [
        (name, spec)
        for name, spec in EXTRACTORS.items()
        if spec["modality"] == modality
    ]


# The source of the extractor module is part of its params: editing one extractor's code
# reruns exactly its jobs (Snakemake's params trigger), not the whole workflow.
_SRC = Path(workflow.basedir) / "src" / "trimodal"


def code_hash(kind):
    from trimodal.extractors.base import extractor_target

    modname = extractor_target(kind)[0]
    path = _SRC.parent.joinpath(*modname.split(".")).with_suffix(".py")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def extract_params(name):
    spec = EXTRACTORS[name]
    params = dict(
        extractor=name,
        kind=spec["kind"],
        modality=spec["modality"],
        model=spec.get("model"),
        params=spec.get("params", {}),
        code=code_hash(spec["kind"]),
        device=config.get("device", "auto"),
    )
    if spec["modality"] == "text" and not is_batched(name):
        # the description is a param of text jobs only: editing one reruns that video's
        # text features; media paths are inputs, so they need no param (batched jobs carry
        # it in their `batch` param)
        params["description"] = lambda wc: ROWS[wc.video_id]["description"]
    return params


# Batched extractors (`batch: N`): consecutive runs of N videos in sheet order, so appending
# videos to the sheet leaves every full batch as it was.
def is_batched(name):
    return int(EXTRACTORS[name].get("batch", 1)) > 1


def _make_batches(name):
    size = int(EXTRACTORS[name].get("batch", 1))
    return {
        f"b{k // size:05d}": VIDEO_IDS[k : k + size]
        for k in range(0, len(VIDEO_IDS), size)
    }


BATCHES = {name: _make_batches(name) for name in EXTRACTORS if is_batched(name)}
BATCH_OF = {
    name: {vid: b for b, vids in batches.items() for vid in vids}
    for name, batches in BATCHES.items()
}


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
    row = ROWS[video_id]
    files = {"probe": f"results/probe/{video_id}.json"}
    modality = EXTRACTORS[name]["modality"]
    if modality == "video" or modality == "audio":
        files["video"] = row["video"]
    if modality == "audio" and row["ad_audio"]:
        files["ad_audio"] = row["ad_audio"]
    for source, producer in text_source_extractors(name).items():
        files[f"text_{source}"] = video_dep(producer, video_id)
    return files


def batch_inputs(name):
    def inputs(wildcards):
        return sorted(
            {
                f
                for vid in BATCHES[name][wildcards.batch]
                for f in _video_inputs(name, vid).values()
            }
        )

    return inputs


def batch_params(name):
    """Per video of the batch: its files (as in a per-video job), output and description."""

    def params(wildcards):
        out = []
        for vid in BATCHES[name][wildcards.batch]:
            files = _video_inputs(name, vid)
            out.append(
                {
                    "video_id": vid,
                    "files": files,
                    "output": video_file(name, vid),
                    "description": ROWS[vid]["description"],
                }
            )
        return out

    return params


def text_source_extractors(name):
    """Per-video files of the extractors whose text this extractor embeds."""
    sources = EXTRACTORS[name].get("params", {}).get("sources", [])
    mapping = config.get("text_sources", {})
    if "all" in sources:
        sources = list(mapping)
    return {s: mapping[s] for s in sources if s in mapping}


def extract_inputs(name):
    def inputs(wildcards):
        return _video_inputs(name, wildcards.video_id)

    return inputs


def extract_resources(name, key, default):
    return EXTRACTORS[name].get("resources", {}).get(key, default)


def runtime_from_probe(name, base_min=2, per_video_minute=1.0):
    """Runtime estimate (minutes) that scales with the video's duration, for SLURM."""

    def runtime(wildcards, attempt):
        videos = (
            BATCHES[name][wildcards.batch]
            if "batch" in wildcards.keys()
            else [wildcards.video_id]
        )
        minutes = 0.0
        for vid in videos:
            probe = Path(f"results/probe/{vid}.json")
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


def feature_set_parts(feature_set):
    extractor, pooling = feature_set.split(":")
    return extractor, pooling


def _fs_path(feature_set):
    return feature_set.replace(":", ".")


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
        feature_set=_fs_path(ft["feature_set"]) if ft else [],
    )
    return finetune + expand(
        "results/classify/{label_set}/{feature_set}/{classifier}.h5",
        label_set=cfg["label_sets"],
        feature_set=[fs.replace(":", ".") for fs in cfg["feature_sets"]],
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


def fusion_spec(name):
    return FUSION["sets"][name]


def fusion_base_results(label_set, kind, name):
    """Late fusion reads the out-of-fold probabilities of the single-modality evaluations."""
    if not kind.startswith("late"):
        return []
    spec = fusion_spec(name)
    clf = spec.get("classifier", "ovr_linear_svc")
    return [
        f"results/classify/{label_set}/{fs.replace(':', '.')}/{clf}.h5"
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
        {"source": source.replace(".", ":"), "target": target.replace(".", ":")}
    ]
    return spec


def crossmodal_targets():
    return [
        f"results/crossmodal/{_fs_path(p['source'])}__{_fs_path(p['target'])}.tsv"
        for p in CROSSMODAL.get("pairs", [])
    ]


def report_inputs():
    return classify_targets() + fusion_targets()
