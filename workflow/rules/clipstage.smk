# The CLIP stage (config `clip_stage`, off unless configured; trimodal.stages.clip):
# - distinct_<name>: per video, the k most mutually distant frames of another extractor's
#   per-frame windows (farthest-point selection), read from that extractor's per-video file;
#   per-video files results/extract/<name>/<id>.h5 and a store results/features/<name>.h5;
# - clip_summaries: each description cut to CLIP's 77 tokens (results/clip/summaries.tsv);
# - clip_match: summaries against the frames of a clip_frames extractor (retrieval both ways);
# - text2image: images drawn from the summaries, scored by the same CLIP against the frames;
# - clip_report: results/report/crossmodal/clip.md (+ csv, image grid).


include: "clipstage_common.smk"


for _name, _spec in DISTINCT.items():

    rule:
        name:
            f"distinct_{_name}"
        input:
            source=distinct_source_dep(_name),
            probe=lambda wc: probe_dep(wc.video_id),
        output:
            f"results/extract/{_name}/{{video_id}}.h5",
        log:
            f"logs/extract/{_name}/{{video_id}}.log",
        benchmark:
            f"benchmarks/extract/{_name}/{{video_id}}.tsv"
        conda:
            "../../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        params:
            name=_name,
            spec=_spec,
            code=code_hash("trimodal.stages.distinct_frames"),
        script:
            "../scripts/distinct_frames.py"

    rule:
        name:
            f"distinct_store_{_name}"
        input:
            [f"results/extract/{_name}/{v}.h5" for v in VIDEO_IDS],
        output:
            store_path(_name),
        log:
            f"logs/store/{_name}.log",
        benchmark:
            f"benchmarks/store/{_name}.tsv"
        conda:
            "../../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            name=_name,
            spec=_spec,
            code=code_hash("trimodal.stages.store"),
        script:
            "../scripts/distinct_store.py"


if clip_stage_on("clip_match") or clip_stage_on("text2image"):

    rule clip_summaries:
        output:
            "results/clip/summaries.tsv",
        log:
            "logs/clip/summaries.log",
        benchmark:
            "benchmarks/clip/summaries.tsv"
        conda:
            "../../envs/clip.yaml"
        threads: 1
        resources:
            mem_mb=3000,
            runtime=30,
        params:
            clip_model=clip_model(),
            summarize=CLIP_STAGE.get("summarize") or {},
            # the descriptions, as values: the sheet is no job's input
            descriptions={v: ROWS[v]["description"] for v in VIDEO_IDS},
            code=code_hash("trimodal.stages.clip"),
        script:
            "../scripts/clip_summaries.py"

    rule clip_report:
        input:
            unpack(clip_report_inputs),
        output:
            md=report(
                "results/report/crossmodal/clip.md",
                caption="../report/clip.rst",
                category="Cross-modal",
            ),
            csv="results/report/crossmodal/clip.csv",
        log:
            "logs/clip/report.log",
        benchmark:
            "benchmarks/clip/report.tsv"
        conda:
            "../../envs/ml.yaml"
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        params:
            models={
                "CLIP": clip_model(),
                "text to image": (CLIP_STAGE.get("text2image") or {}).get("model", ""),
            },
            code=code_hash("trimodal.stages.clip"),
        script:
            "../scripts/clip_report.py"


if clip_stage_on("clip_match"):

    rule clip_match:
        input:
            unpack(clip_stage_inputs),
        output:
            videos="results/clip/clip_match_videos.tsv",
            metrics="results/clip/clip_match.tsv",
        log:
            "logs/clip/clip_match.log",
        benchmark:
            "benchmarks/clip/clip_match.tsv"
        conda:
            "../../envs/clip.yaml"
        threads: 1
        resources:
            **gpu_resources(config["device"]),
            mem_mb=4000,
            runtime=60,
        params:
            model=clip_model(),
            frame_agg=(CLIP_STAGE.get("clip_match") or {}).get(
                "frame_agg", ["mean", "max"]
            ),
            code=code_hash("trimodal.stages.clip"),
            device=config["device"],
        script:
            "../scripts/clip_match.py"


if clip_stage_on("text2image"):

    rule text2image:
        input:
            unpack(clip_stage_inputs),
            # the grid shows frames of the videos themselves
            videos=declare(clip_videos()[1]),
        output:
            videos="results/clip/text2image_videos.tsv",
            metrics="results/clip/text2image.tsv",
            images=directory("results/clip/text2image/images"),
            grid=report(
                "results/report/crossmodal/text2image_grid.png",
                caption="../report/clip.rst",
                category="Cross-modal",
            ),
        log:
            "logs/clip/text2image.log",
        benchmark:
            "benchmarks/clip/text2image.tsv"
        conda:
            "../../envs/clip.yaml"
        threads: 1
        resources:
            **gpu_resources(config["device"]),
            mem_mb=8000,
            runtime=240,
        params:
            spec=CLIP_STAGE.get("text2image") or {},
            clip_model=clip_model(),
            # video_id -> index of its file in input.videos
            videos=clip_videos()[0],
            code=code_hash("trimodal.stages.clip"),
            device=config["device"],
        script:
            "../scripts/text2image.py"
