"""Thumbnail strips: a few frames of each video side by side in one small JPEG, written per
batch of videos by the `thumbnails` rule (results/thumbs/<batch>/), the explorer's pictures.

Frames come from the project's decoders (trimodal.media.frames: decord or PyAV, a segment
row's span only); a video that cannot be decoded gets no strip and its reason in the batch's
index.json, so one bad file never fails the batch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from trimodal.domain import ExtractionError
from trimodal.plumbing.atomic import write_file, write_json

log = logging.getLogger("trimodal")

#: frames a strip shows, and the height of each (pixels)
N_FRAMES = 4
HEIGHT = 72


def strip(frames: list[np.ndarray], height: int = HEIGHT) -> np.ndarray:
    """Frames scaled to one height and put side by side (uint8 RGB)."""
    from PIL import Image

    tiles = []
    for rgb in frames:
        h, w = rgb.shape[:2]
        width = max(1, round(w * height / h))
        tiles.append(np.asarray(Image.fromarray(rgb).resize((width, height))))
    return np.concatenate(tiles, axis=1)


def thumbnail(video: str, out: str | Path, n_frames: int = N_FRAMES, span=None) -> None:
    """The strip of `n_frames` frames spread over the video (or its span), as JPEG."""
    from PIL import Image

    from trimodal.media.frames import sample_frames

    frames = [f.rgb for f in sample_frames(video, n_frames=n_frames, size=HEIGHT, span=span)]
    image = Image.fromarray(strip(frames))
    write_file(out, lambda tmp: image.save(tmp, format="JPEG", quality=70))


def thumbnail_batch(videos: list[dict], out_dir: str | Path) -> dict[str, dict]:
    """One strip per video of a batch ({video_id, video, span?}) into out_dir/<id>.jpg, and
    out_dir/index.json: video id -> {"file": name} or {"error": reason}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index: dict[str, dict] = {}
    for v in videos:
        vid, path = v["video_id"], v.get("video") or ""
        name = f"{vid}.jpg"
        try:
            if not path or not Path(path).exists():
                raise ExtractionError(f"video file not found: {path}", stage="missing")
            thumbnail(path, out_dir / name, span=v.get("span"))
            index[vid] = {"file": name}
        except Exception as e:  # noqa: BLE001 - one bad video never fails the batch
            log.warning("%s: no thumbnail: %s", vid, e)
            index[vid] = {"error": f"{type(e).__name__}: {e}"[:300]}
    write_json(out_dir / "index.json", index, sort_keys=True)
    log.info(
        "%d thumbnails, %d without",
        sum("file" in r for r in index.values()),
        sum("error" in r for r in index.values()),
    )
    return index
