# Batches and paths: which videos each probe and extract job takes (shards included), the
# files a job reads and writes, and its params (what shapes its output: the reuse key).


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
    if spec["modality"] != "text":  # what a file that decodes short becomes (warn | error)
        params["partial_decode"] = config["partial_decode"]
    # a segment's span (batched jobs carry it in their `batch` param)
    if HAS_SPANS and not is_batched(name):
        params["span"] = lambda wc: span_param(wc.video_id).get("span")
    if reads_description(name) and not is_batched(name):
        # the description is a param of text jobs only: editing one reruns that video's
        # text features; media paths are inputs, so they need no param (batched jobs carry
        # it in their `batch` param)
        params["description"] = lambda wc: ROWS[wc.video_id]["description"]
    return params


# Batches (trimodal.plumbing.batching): by default every probe and extract job takes a batch of
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
    shard_batches(batch_size(PROBE_CFG["batch"], N_VIDEOS)) if PROBE_BATCHED else {}
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
    spec = lookup(dpath=f"labels/sets/{wildcards.label_set}", within=config)
    # the sheet's columns it reads are params (label_rows), not the whole sheet
    files = {}
    language = (spec.get("language") or {}).get("extractor")
    if language:
        files["language"] = store_path(language)
    return files


def store_path(extractor):
    return f"results/features/{extractor}.h5"


def fs_slug(feature_set):
    """ "<extractor>:<pooling>" -> its file-safe "<extractor>.<pooling>" (trimodal.plumbing.types)."""
    return FeatureSet.parse(feature_set).slug


def fs_store(feature_set):
    """The store a feature set (either spelling) reads."""
    return store_path(FeatureSet.parse(feature_set).extractor)


def label_rows(wildcards):
    """What a label set reads of the sheet: the label, group and split columns of every row,
    the language column of a `language: {column: ...}` filter, and the descriptions only for
    a zero-shot set; editing another column reruns no label job.
    """
    spec = lookup(dpath=f"labels/sets/{wildcards.label_set}", within=config)
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
