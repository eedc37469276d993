"""Cut count and cut rate (the study's "number of cuts and duration" video features).

Frames are sampled at ``sample_fps`` (default 6/s), downscaled on decode (short side
``short_side``, default 144 px), and fed one by one to PySceneDetect's ContentDetector (HSV
content difference with its flash filter), so memory stays bounded whatever the video length.
A cut shorter than one sampling step apart from a neighbour cannot be resolved; a cut between two
samples is timed at the later sample.

pooled "descriptors" = [duration_s, n_cuts, cuts_per_minute, fps, width, height]
  (fps, width and height of the video stream as stored/displayed; order in FEATURE_NAMES and in
  attrs["feature_names"]). tables["shots"]: shot, start_s, end_s, start_frame (frame index of the
  first sampled frame of each shot).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trimodal.extractors.base import (
    DECODE_BACKEND,
    MAX_FRAMES,
    ExtractionError,
    Extractor,
    Features,
    Param,
    VideoItem,
)
from trimodal.media.frames import partial_attrs, sample_frames, video_info

FEATURE_NAMES = ["duration_s", "n_cuts", "cuts_per_minute", "fps", "width", "height"]


def detect_cuts(
    frames, sample_fps: float, threshold: float = 27.0, min_scene_len_s: float = 0.5
) -> tuple[list[int], list[float], list[int]]:
    """Run ContentDetector over an iterator of Frames: (cut sample ordinals, times, indices)."""
    from scenedetect import ContentDetector
    from scenedetect.common import FrameTimecode

    min_len = max(1, round(min_scene_len_s * sample_fps))
    det = ContentDetector(threshold=threshold, min_scene_len=min_len)
    times: list[float] = []
    indices: list[int] = []
    cut_ordinals: list[int] = []
    for k, f in enumerate(frames):
        times.append(f.time)
        indices.append(f.index)
        bgr = np.ascontiguousarray(f.rgb[:, :, ::-1])
        for tc in det.process_frame(FrameTimecode(k, fps=sample_fps), bgr):
            cut_ordinals.append(int(tc.frame_num))
    if times and hasattr(det, "post_process"):
        for tc in det.post_process(FrameTimecode(len(times) - 1, fps=sample_fps)) or []:
            cut_ordinals.append(int(tc.frame_num))
    cut_ordinals = sorted({c for c in cut_ordinals if 0 < c < len(times)})
    return cut_ordinals, times, indices


class CutsExtractor(Extractor):
    name = "cuts"
    modality = "video"
    PARAMS = {
        "sample_fps": Param(float, 6.0, "frames sampled per second", gt=0),
        "max_frames": MAX_FRAMES,
        "short_side": Param(int, 144, "decoded short side in pixels", ge=1),
        "backend": DECODE_BACKEND,
        "threshold": Param(float, 27.0, "ContentDetector threshold", ge=0),
        "min_scene_len_s": Param(float, 0.5, "shortest shot in seconds", ge=0),
    }
    POOLINGS = ("descriptors",)

    @classmethod
    def uses_gpu(cls, model, params) -> bool:
        """Never: frame differences with PySceneDetect on the CPU."""
        return False

    @classmethod
    def hub_repo(cls, model: str) -> str | None:
        return None  # no model

    def extract(self, item: VideoItem) -> Features:
        sample_fps = float(self.param("sample_fps"))
        info = video_info(item.video)
        sampler = sample_frames(
            item.video,
            fps=sample_fps,
            max_frames=self.param("max_frames"),
            size=int(self.param("short_side")),
            backend=self.param("backend"),
            span=item.span,  # a segment row: its span only, times from its start
        )
        cuts, times, indices = detect_cuts(
            sampler,
            sample_fps,
            threshold=float(self.param("threshold")),
            min_scene_len_s=float(self.param("min_scene_len_s")),
        )
        if not times:
            raise ExtractionError("no decodable video frame", stage="decode")
        st = sampler.stats
        duration = float(st.get("duration") or times[-1])
        if st["stopped_early"]:  # truncated: count only what was seen
            duration = min(duration, times[-1] + 1.0 / sample_fps)
        starts = [0, *cuts]
        ends = [*cuts, None]
        shots = pd.DataFrame(
            {
                "shot": np.arange(len(starts), dtype=np.int64),
                "start_s": [times[s] for s in starts],
                "end_s": [times[e] if e is not None else duration for e in ends],
                "start_frame": np.array([indices[s] for s in starts], dtype=np.int64),
            }
        )
        n_cuts = len(cuts)
        desc = [
            duration,
            n_cuts,
            n_cuts / (duration / 60.0) if duration > 0 else 0.0,
            float(info.get("fps") or 0.0),
            float(st.get("width") or info.get("width") or 0),
            float(st.get("height") or info.get("height") or 0),
        ]
        return Features(
            pooled={"descriptors": np.asarray(desc, dtype=np.float32)},
            tables={"shots": shots},
            attrs={
                "feature_names": ",".join(FEATURE_NAMES),
                "n_cuts": n_cuts,
                "duration_s": duration,
                "sample_fps": sample_fps,
                "n_frames": len(times),
                "decode_backend": st["backend"],
                "stopped_early": bool(st["stopped_early"]),
                "decode_error": st["error"],
                **partial_attrs(st, times[-1], 1.0 / sample_fps),  # a short decode is flagged
            },
        )
