# Extractors: one rule per configured extractor (extract_<name>). The model, the parameters
# that shape results and the extractor's source code are params, so changing any of them
# reruns exactly this extractor's jobs and what depends on them; run-time parameters (an
# inference batch size) are not, like threads. What a job reads (media, text sources) is what
# the extractor's class declares (Extractor.reads), all of it in `input:`.
#
# By default (`batch: auto`, trimodal.plumbing.batching) one job takes a batch of consecutive videos
# and loads the model once for all of them, writing one per-video file each (features or an
# error record) into results/extract/<name>/batches/<batch>/. A rerunning batch reuses the
# earlier result of every video whose own inputs are unchanged (trimodal.store.reuse), so editing
# one description calls the model for that video only. With `batch: 1`, one job per video
# writes results/extract/<name>/<video_id>.h5.


for _name, _spec in EXTRACTORS.items():
    if not is_batched(_name):

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
            retries: gpu_retries(extract_gpu(_name))
            conda:
                f"../../envs/{_spec['modality']}.yaml"
            threads: extract_resources(_name, "threads", 1)
            resources:
                **extract_gpu(_name),
                mem_mb=extract_resources(_name, "mem_mb", 2000),
                runtime=runtime_estimate(_name),
                video_timeout_s=extract_resources(
                    _name, "video_timeout_s", config["video_timeout_s"]
                ),
            params:
                **extract_params(_name),
                video=extract_video_params(_name),
            script:
                "../scripts/extract.py"

    else:

        rule:
            name:
                f"extract_{_name}"
            input:
                batch_inputs(_name),
            output:
                directory(batch_dir(_name, "{batch}")),
            log:
                f"logs/extract/{_name}/batches/{{batch}}.log",
            benchmark:
                f"benchmarks/extract/{_name}/batches/{{batch}}.tsv"
            retries: gpu_retries(extract_gpu(_name))
            conda:
                f"../../envs/{_spec['modality']}.yaml"
            threads: extract_resources(_name, "threads", 1)
            resources:
                **extract_gpu(_name),
                mem_mb=extract_resources(_name, "mem_mb", 2000),
                runtime=runtime_estimate(_name),
                video_timeout_s=extract_resources(
                    _name, "video_timeout_s", config["video_timeout_s"]
                ),
            params:
                **extract_params(_name),
                batch=batch_params(_name),
            script:
                "../scripts/extract.py"
