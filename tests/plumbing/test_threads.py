"""A job's `threads` is the thread count of every runtime it uses (trimodal.plumbing.threads), and GPU
jobs are a Snakemake resource (trimodal.plumbing.device, workflow/rules/common.smk)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trimodal.plumbing import threads as th
from trimodal.plumbing.device import claim_gpu, gpu_out_of_memory, plan_uses_cuda, visible_gpus

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def job_env(monkeypatch):
    """Undo what use_threads writes into the environment."""
    for var in (th.ENV, *th._LIB_ENV, "TRIMODAL_ORT_SPIN"):
        monkeypatch.delenv(var, raising=False)
    yield monkeypatch


def test_use_threads_sets_the_count_and_the_library_environment(job_env):
    assert th.use_threads(1) == 1
    assert th.job_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert th.use_threads(None) == th.machine_cores()  # no count: the machine's cores


@pytest.mark.parametrize("n", [1, 2])
def test_ort_options_intra_threads_inter_one_no_spinning_below_the_cores(job_env, n):
    job_env.setattr(th, "machine_cores", lambda: 4)
    th.use_threads(n)
    opts = th.ort_options()
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (n, 1)
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    job_env.setattr(th, "machine_cores", lambda: n)  # the job holds every core: may spin
    assert th.ort_options().get_session_config_entry("session.intra_op.allow_spinning") == "1"


def _in_job(threads: int, code: str) -> str:
    """Run `code` in a fresh interpreter after start_job(threads) (as a workflow script does:
    torch's inter-op pool can be set once per process); its stdout."""
    script = (
        f"from trimodal.plumbing.threads import start_job\nstart_job({threads})\n"
        + textwrap.dedent(code)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("n", [1, 2])
def test_torch_runs_the_jobs_threads(n):
    out = _in_job(
        n,
        """
        import torch
        from trimodal.plumbing.threads import torch_threads
        torch_threads()
        print(torch.get_num_threads(), torch.get_num_interop_threads())
        """,
    )
    assert out == f"{n} {n}"


@pytest.mark.parametrize("n", [1, 2])
def test_pyav_decodes_with_the_jobs_threads(n, mimetype_clips):
    clip = next(mimetype_clips.glob("*.mp4"))
    out = _in_job(
        n,
        f"""
        import av
        from trimodal.media import pyav_backend
        seen = []
        real_open = av.open
        def spy(*a, **k):
            c = real_open(*a, **k)
            seen.extend(c.streams.video[:1])  # the stream read_pyav configures
            return c
        av.open = spy
        from trimodal.media.frames import sample_frames
        frames = list(sample_frames({str(clip)!r}, fps=1.0, max_frames=2, size=64,
                                    backend="pyav"))
        print(len(frames), seen[0].thread_count)
        """,
    )
    assert out.split()[1] == str(n)


@pytest.mark.parametrize("n", [1, 2])
def test_decord_decodes_with_the_jobs_threads(n, mimetype_clips):
    """decord does not report its thread count: the value its reader was built with is read
    by a wrapper around the real class."""
    pytest.importorskip("decord")
    clip = next(mimetype_clips.glob("*.mp4"))
    out = _in_job(
        n,
        f"""
        import decord
        real = decord.VideoReader
        seen = []
        def spy(*a, **k):
            seen.append(k["num_threads"])
            return real(*a, **k)
        decord.VideoReader = spy
        from trimodal.media.frames import sample_frames
        frames = list(sample_frames({str(clip)!r}, fps=1.0, max_frames=2, size=64,
                                    backend="decord"))
        print(len(frames), *sorted(set(seen)))
        """,
    )
    assert out.split()[1:] == [str(n)]


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2])
def test_yolo_onnxruntime_session_runs_the_jobs_threads(n):
    out = _in_job(
        n,
        """
        import numpy as np
        from trimodal.extractors.yolo import YoloExtractor
        ex = YoloExtractor(None, {"runtime": "onnx"}, device="cpu")
        ex.ensure_loaded()
        ex.detect([np.zeros((64, 64, 3), np.uint8)])
        o = ex.yolo.predictor.model.backend.session.get_session_options()
        import torch
        print(o.intra_op_num_threads, o.inter_op_num_threads, torch.get_num_threads())
        """,
    )
    assert out == f"{n} 1 {n}"


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2])
def test_yamnet_onnxruntime_session_runs_the_jobs_threads(n):
    out = _in_job(
        n,
        """
        from trimodal.extractors.yamnet import YamnetExtractor
        ex = YamnetExtractor("packaged:yamnet-int8-onnx", {}, device="cpu")
        ex.ensure_loaded()
        o = ex.session.get_session_options()
        print(o.intra_op_num_threads, o.inter_op_num_threads)
        """,
    )
    assert out == f"{n} 1"


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2])
def test_ctranslate2_runs_the_jobs_threads(n):
    """CTranslate2 does not report its thread count: the value it was built with is read by
    a wrapper around the real class (the model is really loaded)."""
    out = _in_job(
        n,
        """
        import ctranslate2
        real = ctranslate2.models.Whisper
        seen = {}
        def spy(*a, **k):
            seen.update(k)
            return real(*a, **k)
        ctranslate2.models.Whisper = spy
        from trimodal.extractors.whisper import WhisperExtractor
        ex = WhisperExtractor("tiny.en", {"vad": False}, device="cpu")
        ex.ensure_loaded()
        print(seen["intra_threads"])
        """,
    )
    assert out == str(n)


@pytest.mark.parametrize("n", [1, 2])
def test_prefetch_thread_only_with_a_second_thread(job_env, n):
    import threading

    from trimodal.media.prefetch import prefetch

    th.use_threads(n)
    names = []
    for _ in prefetch(iter(range(3))):
        names.append({t.name for t in threading.enumerate()})
    assert any("prefetch" in s for s in names) == (n > 1)


def test_blas_pools_follow_the_job(job_env):
    import numpy  # noqa: F401 - loads its BLAS
    from threadpoolctl import threadpool_info

    th.use_threads(1)
    assert all(p["num_threads"] == 1 for p in threadpool_info())


# ------------------------------------------------------------------------------ GPUs


def test_visible_gpus_faked_and_plan(monkeypatch):
    monkeypatch.setenv("TRIMODAL_GPUS", "2")
    assert visible_gpus() == ["0", "1"]
    assert plan_uses_cuda("auto") and plan_uses_cuda("cuda") and not plan_uses_cuda("cpu")
    monkeypatch.setenv("TRIMODAL_GPUS", "0")
    assert not plan_uses_cuda("auto") and plan_uses_cuda("cuda")


def test_each_job_claims_a_different_gpu(monkeypatch, tmp_path):
    """Two running jobs get the two GPUs; a third waits (here: times out) until one ends."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TRIMODAL_GPUS": "2",
           "TRIMODAL_GPU_LOCKS": str(tmp_path)}  # fmt: skip
    code = (
        "import os, sys, time\nfrom trimodal.plumbing.device import claim_gpu\n"
        "print(claim_gpu(poll_s=0.05), os.environ['CUDA_VISIBLE_DEVICES'], flush=True)\n"
        "time.sleep(float(sys.argv[1]))\n"
    )
    holders = [
        subprocess.Popen([sys.executable, "-c", code, "30"], env=env, stdout=subprocess.PIPE,
                         text=True)
        for _ in range(2)
    ]  # fmt: skip
    try:
        got = sorted(p.stdout.readline().split()[0] for p in holders)
        assert got == ["0", "1"]
        with pytest.raises(subprocess.TimeoutExpired):  # both held: the third one waits
            subprocess.run([sys.executable, "-c", code, "0"], env=env, timeout=5)
        holders[0].kill()
        holders[0].wait()
        third = subprocess.run([sys.executable, "-c", code, "0"], env=env, timeout=60,
                               capture_output=True, text=True)  # fmt: skip
        assert third.stdout.split()[0] in ("0", "1")
    finally:
        for p in holders:
            p.kill()
            p.wait()


def test_no_gpu_no_claim(monkeypatch):
    monkeypatch.setenv("TRIMODAL_GPUS", "0")
    assert claim_gpu() is None


def test_gpu_out_of_memory_is_recognised():
    class OutOfMemoryError(RuntimeError):
        pass

    assert gpu_out_of_memory(OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert gpu_out_of_memory(RuntimeError("CUDA failed with error out of memory"))
    assert not gpu_out_of_memory(MemoryError("cannot allocate"))


def test_retried_gpu_job_halves_the_batch(monkeypatch):
    from trimodal.plumbing.batching import SHRINK_ENV, model_batch, shrink_for_attempt

    monkeypatch.delenv(SHRINK_ENV, raising=False)
    assert model_batch(16) == 16
    shrink_for_attempt(2)
    assert model_batch(16) == 8
    shrink_for_attempt(3)
    assert model_batch(16) == 4 and model_batch(3) == 1


@pytest.mark.slow
def test_gpu_jobs_are_a_resource_in_the_plan(tmp_path):
    """Dry runs of a small project: with CUDA faked present (TRIMODAL_GPUS) every extract job of
    a model that can use the GPU carries gpu=1 and `--resources gpu=1` lets one run at a time;
    without CUDA no job carries a gpu resource (the plan of before)."""
    from tests.workflow_project import make_project, small_sheet, snakemake

    wd = make_project(tmp_path, small_sheet(per_label=1, extra_ids=()))

    def jobs(out: str) -> dict[str, str]:
        rule, found = None, {}
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("rule "):
                rule = line[5:].rstrip(":")
            elif line.startswith("resources:") and rule:
                found.setdefault(rule, line)
        return found

    def dry(*args, gpus):
        proc = snakemake(wd, "--dry-run", *args, env={"TRIMODAL_GPUS": gpus})
        return proc.stdout + proc.stderr

    cpu = dry(gpus="0")
    assert "gpu=" not in cpu and "GPU jobs" not in cpu
    gpu = dry("--resources", "gpu=1", gpus="1")
    plan = jobs(gpu)
    assert "gpu=1" in plan["extract_effnet"] and "gpu=1" in plan["extract_sbert_desc"]
    assert "gpu" not in plan["extract_yamnet"]  # onnxruntime on CPU
    assert "gpu" not in plan["probe"]
    assert "GPU jobs: at most 1 at a time" in gpu
    assert "GPU jobs: at most 2 at a time" in dry(gpus="2")  # capped at the machine's GPUs
