"""The distinct-frames stage (config `distinct_frames`, workflow/rules/clipstage.smk): one video's
distinct frames, chosen from the per-frame windows of its source extractor's per-video file
(:mod:`trimodal.crossmodal.clip.distinct_frames`). Its own module, so its jobs' code hash
reaches the frame selection only, not the rest of the CLIP stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trimodal.crossmodal.clip.distinct_frames import distinct_frames_file
from trimodal.plumbing.batching import video_path


def distinct_frames_job(
    video_id: str, source: str, probe: str, output: str, name: str, spec: Mapping[str, Any]
) -> bool:
    """The distinct_frames rule's entry point: `source` and `probe` are the job's inputs, each
    the video's file or the batch folder holding it. True when the video's frames were ok."""
    return distinct_frames_file(
        video_id=video_id,
        source_file=video_path(source, video_id, ".h5"),
        probe_json=video_path(probe, video_id, ".json"),
        output=output,
        name=name,
        spec=dict(spec),
    )
