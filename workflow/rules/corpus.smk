# Corpus stage: the probe (duration, streams, codecs) of every video, one JSON a video, written
# by one job per batch of videos (`probe: {batch: auto}`; `batch: 1` for one job per video).
# An unreadable file gives a JSON with ok: false and the reason; it never fails the run.


if PROBE_BATCHED:

    rule probe:
        input:
            probe_batch_inputs,
        output:
            directory("results/probe/batches/{batch}"),
        log:
            "logs/probe/batches/{batch}.log",
        benchmark:
            "benchmarks/probe/batches/{batch}.tsv"
        conda:
            "../../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=300,
            runtime=lambda wc: 2 + len(PROBE_BATCHES[wc.batch]) // 100,
        params:
            # per video: which inputs are its files (indices), its identity and span
            videos=probe_batch_params,
            code=code_hash("trimodal.stages.probe"),
        script:
            "../scripts/probe.py"

else:

    rule probe:
        input:
            # an absent file (missing_media: skip) is no input: its probe says so
            unpack(lambda wc: declare(PLAN.probe_inputs(wc.video_id))),
        output:
            "results/probe/{video_id}.json",
        log:
            "logs/probe/{video_id}.log",
        benchmark:
            "benchmarks/probe/{video_id}.tsv"
        conda:
            "../../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=300,
            runtime=2,
        params:
            video=lambda wc: PLAN.probe_params(wc.video_id),
            code=code_hash("trimodal.stages.probe"),
        script:
            "../scripts/probe.py"
