"""The plan of a run: its jobs' batches, files, params and resources, from config + sheet rows.

Everything the rule files used to compute in `.smk` code, importable and unit-tested without
Snakemake (tests/workflow/test_plan.py). The rules (workflow/rules/*.smk) call a :class:`Plan` built once
from the checked configuration and the sheet's rows.

The rule this module keeps: every file a job reads is one of its inputs and every file it writes
is (inside) one of its outputs; params hold values only (what shapes a result: the reuse key),
never a path. A batch job's inputs are one sorted list; its params say, per video, which
entries of that list are its files (indices), and its per-video outputs lie inside its output
folder under the video's id. So a storage provider can fetch and upload every file a job
touches, and a job's params name no file of this machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trimodal.corpus.sheet import row_span
from trimodal.extractors.base import Reads, extractor_reads, get_extractor_class
from trimodal.plumbing.batching import batch_size, make_batches
from trimodal.plumbing.device import plan_uses_cuda
from trimodal.workflow.media import media_exists, media_identity

#: minutes of media assumed per video for a job's runtime estimate (SLURM's time limit): the
#: plan reads no probe (a probe is a job's output, not known, or not local, at planning); a
#: segment row's span gives its own length. Per extractor, `resources:
#: runtime_per_video_minute` scales it.
DEFAULT_VIDEO_MINUTES = 5.0
#: a GPU job that runs out of memory is retried this many times with half the batch
GPU_RETRIES = 2


class PlanError(ValueError):
    """A setting the plan cannot follow (a bad `shard`)."""


def parse_shard(value) -> tuple[int | None, int]:
    """`shard: i/n` -> (i, n); `all/n` -> (None, n); unset -> (None, 1)."""
    if not value:
        return None, 1
    i, n = str(value).split("/")
    n = int(n)
    if i != "all" and not 1 <= int(i) <= n:
        raise PlanError(f"shard must be i/n with 1 <= i <= n, or all/n; got {value}")
    return (None if i == "all" else int(i)), n


def store_path(extractor: str) -> str:
    return f"results/features/{extractor}.h5"


def batch_dir(name: str, batch: str) -> str:
    return f"results/extract/{name}/batches/{batch}"


def unique(paths) -> list:
    """Distinct items, first-seen order (a batch folder holds many videos)."""
    return list(dict.fromkeys(paths))


@dataclass
class BatchJob:
    """A batch job's inputs (one sorted list) and, per video, which of them are its files."""

    inputs: list[str]
    videos: list[dict[str, Any]] = field(default_factory=list)


class Plan:
    """Batches, files, params and resources of every job, from the checked config and the rows.

    `rows`: video_id -> its sheet row (a dict, sheet order); `absent`: video_id -> the media
    columns whose file is absent (``missing_media: skip``), which are no job's input.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        rows: Mapping[str, Mapping[str, Any]],
        absent: Mapping[str, Sequence[str]] | None = None,
    ):
        self.config = config
        self.rows = rows
        self.absent = dict(absent or {})
        self.video_ids = list(rows)
        self.extractors = config["extractors"]
        self.has_spans = any("start" in r for r in list(rows.values())[:1])
        self.shard, self.n_shards = parse_shard(config.get("shard"))
        n = len(self.video_ids)
        self.shard_blocks = [
            self.video_ids[k * n // self.n_shards : (k + 1) * n // self.n_shards]
            for k in range(self.n_shards)
        ]
        self.batches = {
            name: self.shard_batches(batch_size(spec["batch"], n))
            for name, spec in self.extractors.items()
            if self.is_batched(name)
        }
        self.batch_of = {
            name: {vid: b for b, vids in batches.items() for vid in vids}
            for name, batches in self.batches.items()
        }
        probe_cfg = config["probe"]
        self.probe_batched = str(probe_cfg["batch"]) != "1"
        self.probe_batches = (
            self.shard_batches(batch_size(probe_cfg["batch"], n)) if self.probe_batched else {}
        )
        self.probe_batch_of = {v: b for b, vids in self.probe_batches.items() for v in vids}
        self._reads: dict[str, Reads] = {}

    # ------------------------------------------------------------------ batches and shards
    def is_batched(self, name: str) -> bool:
        return str(self.extractors[name].get("batch", "auto")) != "1"

    def shard_batches(self, size: int) -> dict[str, list[str]]:
        """make_batches within each shard block, numbered b00000... across blocks (one block:
        the unsharded layout), so concurrent shards share no job."""
        vids = [v for block in self.shard_blocks for v in make_batches(block, size).values()]
        return {f"b{k:05d}": v for k, v in enumerate(vids)}

    # ------------------------------------------------------------------ what an extractor is
    def reads(self, name: str) -> Reads:
        """What extractor `name` reads of a video, as its class declares it."""
        if name not in self._reads:
            spec = self.extractors[name]
            self._reads[name] = extractor_reads(spec["kind"], spec["modality"], spec["params"])
        return self._reads[name]

    def result_params(self, name: str) -> dict:
        """The extractor's params that shape its results: all but the run-time ones its class
        declares (``Param(runtime=True)``: inference batch sizes), like threads."""
        spec = self.extractors[name]
        try:
            runtime = get_extractor_class(spec["kind"]).runtime_params()
        except (KeyError, ImportError, AttributeError):
            runtime = set()
        return {k: v for k, v in spec["params"].items() if k not in runtime}

    def uses_gpu(self, name: str) -> bool:
        """Whether extractor `name`'s jobs use a GPU under the configured device."""
        spec = self.extractors[name]
        if not plan_uses_cuda(self.config["device"]):
            return False
        try:
            cls = get_extractor_class(spec["kind"])
        except (KeyError, ImportError, AttributeError):
            return True
        return bool(cls.uses_gpu(spec.get("model"), spec["params"]))

    def text_source_extractors(self, name: str) -> dict[str, str]:
        """Text source -> the extractor producing it, for the sources extractor `name` reads."""
        sources = list(self.reads(name).sources)
        mapping = self.config.get("text_sources", {}) or {}
        if "all" in sources:
            sources = list(mapping)
        return {s: mapping[s] for s in sources if s in mapping}

    # ------------------------------------------------------------------ per-video files
    def probe_file(self, video_id: str) -> str:
        """The probe JSON of a video (inside its probe batch's folder when batched)."""
        if self.probe_batched:
            return f"results/probe/batches/{self.probe_batch_of[video_id]}/{video_id}.json"
        return f"results/probe/{video_id}.json"

    def probe_dep(self, video_id: str) -> str:
        """The output that holds a video's probe: its batch folder, or the file itself."""
        if self.probe_batched:
            return f"results/probe/batches/{self.probe_batch_of[video_id]}"
        return self.probe_file(video_id)

    def video_file(self, name: str, video_id: str) -> str:
        """Where extractor `name` writes its per-video file for `video_id`."""
        if name in self.batches:
            return f"{batch_dir(name, self.batch_of[name][video_id])}/{video_id}.h5"
        return f"results/extract/{name}/{video_id}.h5"

    def video_dep(self, name: str, video_id: str) -> str:
        """The output that holds that file: the file itself, or its batch's folder."""
        if name in self.batches:
            return batch_dir(name, self.batch_of[name][video_id])
        return self.video_file(name, video_id)

    def present(self, video_id: str, col: str) -> str | None:
        """The row's file in `col` when it is an input (given, and not absent under
        missing_media: skip), else None."""
        path = self.rows[video_id].get(col) or None
        return None if col in self.absent.get(video_id, ()) else path

    def missing(self, video_id: str, cols: Sequence[str]) -> dict[str, str]:
        """col -> the sheet's value, for the given files of `cols` that are absent: the job
        writes an error record (stage missing) naming it, and reads nothing there."""
        return {c: self.rows[video_id][c] for c in cols if c in self.absent.get(video_id, ())}

    def span(self, video_id: str) -> dict:
        """{"span": [start, end]} for a segment row (a time span of its video), else {}."""
        span = row_span(self.rows[video_id])
        return {"span": list(span)} if span else {}

    # ------------------------------------------------------------------ probe jobs
    def probe_inputs(self, video_id: str) -> dict[str, str]:
        return {c: p for c in ("video", "ad_audio") if (p := self.present(video_id, c)) is not None}

    def probe_params(self, video_id: str) -> dict[str, Any]:
        """What shapes a video's probe: its media's identity (size, or a fingerprint), its
        span, and the files the sheet names that are absent (stage missing)."""
        out = {
            "video_id": video_id,
            "identity": self.media_identity(video_id),
            **self.span(video_id),
        }
        missing = self.missing(video_id, ("video", "ad_audio"))
        if missing:
            out["missing"] = missing
        return out

    def media_identity(self, video_id: str) -> dict[str, Any]:
        fingerprint = bool(self.config["probe"].get("fingerprint"))
        out = {}
        for col in ("video", "ad_audio"):
            ident = media_identity(self.rows[video_id].get(col) or None, fingerprint)
            if ident is not None:
                out[col] = ident
        return out

    def probe_batch(self, batch: str) -> BatchJob:
        """A probe batch: its media files, and per video the indices of its video and AD track."""
        return self._batch_job(self.probe_batches[batch], self.probe_inputs, self.probe_params)

    # ------------------------------------------------------------------ extract jobs
    def extract_inputs(self, name: str, video_id: str) -> dict[str, str]:
        """A video's named inputs for extractor `name`: its probe (file or batch folder), the
        media its class reads, and the per-video files (or batch folders) of its text sources."""
        reads = self.reads(name)
        deps = {}
        if reads.media is not None:  # a text extractor reads no probe (nor a span)
            deps["probe"] = self.probe_dep(video_id)
        if reads.video and self.present(video_id, "video"):
            deps["video"] = self.present(video_id, "video")
        if reads.ad_audio and self.present(video_id, "ad_audio"):
            deps["ad_audio"] = self.present(video_id, "ad_audio")
            ad_map = self.rows[video_id].get("ad_map") or None
            if ad_map and media_exists(ad_map):  # where a segment lies on the AD track
                deps["ad_map"] = ad_map
        for source, producer in self.text_source_extractors(name).items():
            deps[f"text_{source}"] = self.video_dep(producer, video_id)
        return deps

    def extract_video_params(self, name: str, video_id: str) -> dict[str, Any]:
        """What of a video's row shapes extractor `name`'s result on it: the description (an
        extractor that reads it), the span (one that reads spans), absent files' names."""
        reads = self.reads(name)
        row = self.rows[video_id]
        out: dict[str, Any] = {"video_id": video_id}
        if reads.span:
            out.update(self.span(video_id))
        if reads.description:
            out["description"] = row["description"]
        cols = [c for c in ("video", "ad_audio") if getattr(reads, c)]
        missing = self.missing(video_id, cols)
        ad_map = row.get("ad_map") or None
        if reads.ad_audio and ad_map and self.present(video_id, "ad_audio"):
            if not media_exists(ad_map):
                missing["ad_map"] = ad_map
        if missing:
            out["missing"] = missing
        return out

    def extract_batch(self, name: str, batch: str) -> BatchJob:
        return self._batch_job(
            self.batches[name][batch],
            lambda v: self.extract_inputs(name, v),
            lambda v: self.extract_video_params(name, v),
        )

    def _batch_job(self, videos, inputs_of, params_of) -> BatchJob:
        named = [(v, inputs_of(v)) for v in videos]
        files = sorted({f for _, deps in named for f in deps.values()})
        index = {f: i for i, f in enumerate(files)}
        job = BatchJob(files)
        for vid, deps in named:
            job.videos.append({**params_of(vid), "inputs": {k: index[f] for k, f in deps.items()}})
        return job

    def extract_params(self, name: str) -> dict[str, Any]:
        """The params every job of extractor `name` shares (what shapes its results)."""
        spec = self.extractors[name]
        params = dict(
            extractor=name,
            kind=spec["kind"],
            modality=spec["modality"],
            model=spec.get("model"),
            params=self.result_params(name),
            device=self.config["device"],
        )
        if spec["modality"] != "text":  # what a file that decodes short becomes
            params["partial_decode"] = self.config["partial_decode"]
        return params

    def videos_of(self, name: str, wildcards) -> list[str]:
        if "batch" in wildcards.keys():
            return self.batches[name][wildcards.batch]
        return [wildcards.video_id]

    def runtime_minutes(self, name: str, videos: Sequence[str], attempt: int = 1) -> int:
        """A job's runtime estimate (SLURM's limit), from what is known at planning: a segment
        row's span, else DEFAULT_VIDEO_MINUTES a video; no probe is read."""
        res = self.extractors[name].get("resources", {}) or {}
        factor = float(res.get("runtime_per_video_minute", 1.0))
        minutes = 0.0
        for vid in videos:
            span = row_span(self.rows[vid])
            minutes += (span[1] - span[0]) / 60.0 if span else DEFAULT_VIDEO_MINUTES
        return int((2 + factor * minutes) * attempt)

    def gpu_resources(self, uses_gpu: bool) -> dict[str, Any]:
        """A job's resources for a GPU: gpu=1 (the SLURM plugin maps it to --gpus) and its
        attempt (a retried OOM job halves its batch), when it uses one; else nothing."""
        if not uses_gpu:
            return {}
        return {"gpu": 1, "gpu_attempt": lambda wc, attempt: attempt}

    def extract_gpu(self, name: str) -> dict[str, Any]:
        return self.gpu_resources(self.uses_gpu(name))

    def crossmodal_gpu(self) -> dict[str, Any]:
        """A cross-modal pair's GPU: its neural methods (mlp, autoencoder, an `auto` with
        them among its candidates) train on a GPU under the configured device."""
        from trimodal.crossmodal.methods import methods_use_gpu

        spec = self.config.get("crossmodal") or {}
        uses = methods_use_gpu(spec) and plan_uses_cuda(self.config["device"])
        return self.gpu_resources(uses)

    # ------------------------------------------------------------------ stores and failures
    def store_inputs(self, extractor: str) -> list[str]:
        return unique(self.video_dep(extractor, v) for v in self.video_ids)

    def store_spec(self, extractor: str) -> dict[str, Any]:
        """What of an extractor's spec shapes its store: not resources, batch, timeouts or
        run-time params."""
        spec = self.extractors[extractor]
        out = {k: spec.get(k) for k in ("kind", "modality", "model") if k in spec}
        out["params"] = self.result_params(extractor)
        return out

    def probe_deps(self) -> list[str]:
        return unique(self.probe_dep(v) for v in self.video_ids)

    # ------------------------------------------------------------------ labels
    def label_rows(self, spec: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
        """What a label set reads of the sheet, as values: the label, group and split columns
        the sheet has, the language column of a `language: {column: ...}` filter, and the
        descriptions only for a zero-shot set; editing another column reruns no label job."""
        cols = ["label"] + [c for c in ("group", "split") if c in columns]
        lang = (spec.get("language") or {}).get("column")
        cols += [lang] if lang else []
        cols += ["description"] if spec.get("from") == "zeroshot" else []
        return {
            "columns": cols,
            "rows": {vid: [row.get(c, "") for c in cols] for vid, row in self.rows.items()},
        }

    # ------------------------------------------------------------------ targets
    def shard_targets(self) -> list[str]:
        """A shard's probes and per-video files (its batches lie inside its block)."""
        ids = set(self.shard_blocks[self.shard - 1])
        mine = [v for v in self.video_ids if v in ids]
        targets = unique(self.probe_dep(v) for v in mine)
        for name in self.extractors:
            targets += unique(self.video_dep(name, v) for v in mine)
        return targets
