# What to build: the classification, fusion, cross-modal and report targets the config asks
# for, and the specs of those jobs.


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
        return PLAN.shard_targets()
    targets = [store_path(name) for name in EXTRACTORS]
    targets.append("results/failures.tsv")
    targets += expand(
        "results/report/{label_set}/summary.md",
        label_set=lookup(dpath="classify/label_sets", within=config),
    )
    if CROSSMODAL.get("pairs"):
        targets.append("results/report/crossmodal/crossmodal.md")
    targets.append("results/explorer/index.html")  # the results explorer (explorer.smk)
    return targets


FUSION = config.get("fusion", {}) or {}
# fusion kinds: the registry (trimodal.stages.fuse), with the config's plug-in modules
FUSION_PLUGINS = list(FUSION.get("plugins", []))
load_plugins(FUSION_PLUGINS)
PLUGINS.update(FUSION_PLUGINS)  # their source is part of the fuse rule's code hash
# classifiers: the registry (trimodal.learn.classifiers), with the config's plug-in modules
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
                label_set=lookup(dpath="classify/label_sets", within=config),
                kind=kind,
                name=name,
            )
    return out


CROSSMODAL = config.get("crossmodal", {}) or {}
LABEL_SETS = lookup(dpath="classify/label_sets", within=config)


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
    # the direction of the pair (text -> video...), for the published figures beside it
    spec["modalities"] = {
        fs: EXTRACTORS[FeatureSet.parse(fs).extractor].get("modality", "")
        for fs in (spec["pairs"][0]["source"], spec["pairs"][0]["target"])
    }
    return spec


def crossmodal_labels():
    """The label set of the label agreement (none configured: no input; retrieval needs none)."""
    name = CROSSMODAL.get("label_set") or (LABEL_SETS[0] if LABEL_SETS else None)
    return [f"results/labels/{name}.tsv"] if name else []


def crossmodal_rows():
    """What the cross-modal jobs read of the sheet: each row's group and split."""
    return {
        vid: [row.get("group", ""), row.get("split", "")] for vid, row in ROWS.items()
    }


def crossmodal_targets():
    return [
        f"results/crossmodal/{fs_slug(p['source'])}__{fs_slug(p['target'])}.tsv"
        for p in CROSSMODAL.get("pairs", [])
    ]


def report_inputs():
    return classify_targets() + fusion_targets()


def fusion_job_spec(name, kind):
    """A fusion set's spec as one kind's job reads it: without the list of kinds, so adding
    a kind runs only its own job. Late-stack builds its base models itself: as
    classify.options configures its classifier (options.base_options)."""
    spec = {k: v for k, v in fusion_spec(name).items() if k != "kinds"}
    clf = spec.get("classifier", "ovr_linear_svc")
    base = (config["classify"].get("options") or {}).get(clf)
    if kind == "late-stack" and base:
        spec["options"] = {**(spec.get("options") or {}), "base_options": base}
    return spec
