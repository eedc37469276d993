# Glue between the rules and the plan (trimodal.workflow.plan): which videos each probe and
# extract job takes (shards included), the files a job reads (its inputs) and writes (its
# outputs), and its params (values that shape its output: the reuse key, never a path).

BATCHES = PLAN.batches
SHARD, N_SHARDS = PLAN.shard, PLAN.n_shards
PROBE_BATCHED = PLAN.probe_batched
PROBE_BATCHES = PLAN.probe_batches
probe_file = PLAN.probe_file
probe_dep = PLAN.probe_dep
video_file = PLAN.video_file
video_dep = PLAN.video_dep


def batch_dir(name, batch):
    return f"results/extract/{name}/batches/{batch}"


def is_batched(name):
    return PLAN.is_batched(name)


def extract_params(name):
    """The params every job of the extractor shares, and its code and library versions."""
    return dict(
        **PLAN.extract_params(name),
        code=extractor_code(EXTRACTORS[name]["kind"]),
        packages=extractor_packages(EXTRACTORS[name]["kind"], EXTRACTORS[name]),
    )


def declare(files):
    """A job's inputs as Snakemake fetches them: an s3:// media path becomes storage(url)
    (trimodal.workflow.storage); a list keeps its order (params index it), a dict its names.
    """
    if isinstance(files, dict):
        return {k: STORAGE.declare(f) for k, f in files.items()}
    return [STORAGE.declare(f) for f in files]


def probe_batch_inputs(wildcards):
    return declare(PLAN.probe_batch(wildcards.batch).inputs)


def probe_batch_params(wildcards):
    """Per video: which inputs are its video and AD track, its identity and span."""
    return PLAN.probe_batch(wildcards.batch).videos


def batch_inputs(name):
    def inputs(wildcards):
        return declare(PLAN.extract_batch(name, wildcards.batch).inputs)

    return inputs


def batch_params(name):
    """Per video of the batch: which inputs are its files, its span and (extractors that
    read it) its description, so that editing one description reruns only that batch."""

    def params(wildcards):
        return PLAN.extract_batch(name, wildcards.batch).videos

    return params


def extract_inputs(name):
    """A per-video job's named inputs (batch folders of batched producers included)."""

    def inputs(wildcards):
        return declare(PLAN.extract_inputs(name, wildcards.video_id))

    return inputs


def extract_video_params(name):
    def params(wildcards):
        return PLAN.extract_video_params(name, wildcards.video_id)

    return params


def extract_resources(name, key, default):
    return EXTRACTORS[name].get("resources", {}).get(key, default)


def runtime_estimate(name):
    """Runtime estimate (minutes) for SLURM, from the rows (no probe is read at planning)."""

    def runtime(wildcards, attempt):
        return PLAN.runtime_minutes(name, PLAN.videos_of(name, wildcards), attempt)

    return runtime


def label_inputs(wildcards):
    spec = lookup(dpath=f"labels/sets/{wildcards.label_set}", within=config)
    # the sheet's columns it reads are params (label_rows), not the whole sheet
    files = {}
    language = (spec.get("language") or {}).get("extractor")
    if language:
        files["language"] = store_path(language)
    return files


def fs_slug(feature_set):
    """ "<extractor>:<pooling>" -> its file-safe "<extractor>.<pooling>" (trimodal.domain)."""
    return FeatureSet.parse(feature_set).slug


def fs_store(feature_set):
    """The store a feature set (either spelling) reads."""
    return store_path(FeatureSet.parse(feature_set).extractor)


def label_rows(wildcards):
    """What a label set reads of the sheet, as values (trimodal.workflow.plan.Plan.label_rows)."""
    spec = lookup(dpath=f"labels/sets/{wildcards.label_set}", within=config)
    return PLAN.label_rows(spec, SHEET_COLUMNS)


def store_spec(extractor):
    return PLAN.store_spec(extractor)


def sheet_flags_param():
    """The sheet's flagged rows (video_id, flag, line), as values for results/failures.tsv."""
    flags = sheet_flags(config["samples"])
    return [list(map(str, r)) for r in flags.itertuples(index=False)]
