# Audio extractors: one rule per configured extractor (extract_<name>), one job per video,
# writing results/extract/<name>/<video_id>.h5 (features or an error record). The model, the
# parameters and the extractor's source code are params, so changing any of them reruns exactly
# this extractor's jobs and what depends on them.


for _name, _spec in extractors_of("audio"):

    rule:
        name:
            f"extract_{_name}"
        input:
            unpack(extract_inputs(_name)),
        output:
            f"results/extract/{_name}/{{video_id}}.h5",
        log:
            f"logs/extract/{_name}/{{video_id}}.log",
        benchmark:
            f"benchmarks/extract/{_name}/{{video_id}}.tsv"
        conda:
            "../../envs/audio.yaml"
        threads: extract_resources(_name, "threads", 1)
        resources:
            mem_mb=extract_resources(_name, "mem_mb", 2000),
            runtime=runtime_from_probe(_name),
            video_timeout_s=extract_resources(
                _name, "video_timeout_s", config.get("video_timeout_s", 0)
            ),
        params:
            **extract_params(_name),
        script:
            "../scripts/extract.py"
