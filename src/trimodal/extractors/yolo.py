"""Object detection on sampled frames with Ultralytics YOLO.

The study ran YOLOv7 on every frame (~50 h for the corpus; a 40-minute video never finished).
Here detection runs on frames sampled at ``fps`` (default 1/s), batched. Per video:
- tables["detections"]: frame, time, class_id, class_name, confidence, x1, y1, x2, y2 (pixels of
  the decoded frame);
- windows: per-frame, per-class max confidence, (n_frames, n_classes), 0 where absent;
- pooled "proba_max" / "proba_avg": max / mean over frames of those per-frame values (the study's
  80-d max-probability and mean vectors for COCO);
- text: the objects sentence, class names by decreasing number of detections ("person, dog").

Offline default model: "packaged:yolov8-person" (a 2-class Normal/Fall person detector); with
internet, "yolov8n.pt" gives COCO-80 ("yolov8n.yaml" builds the same network with random weights,
named with COCO's classes). Ultralytics is kept offline: YOLO_OFFLINE=1 (no online
checks or downloads) and its settings file goes to a private folder (YOLO_CONFIG_DIR) unless the
caller set one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from trimodal.extractors.base import (
    Features,
    Param,
    VideoItem,
)
from trimodal.extractors.frame_base import FRAME_PARAMS, FrameExtractor
from trimodal.plumbing.atomic import write_file
from trimodal.plumbing.models import model_cache, resolve_model
from trimodal.plumbing.threads import job_threads, ort_options, torch_threads

DEFAULT_MODEL = "packaged:yolov8-person"


def ultralytics_offline() -> None:
    """Environment that keeps ultralytics from reaching the network or writing to $HOME."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault(
        "YOLO_CONFIG_DIR", os.path.join(tempfile.gettempdir(), "trimodal-ultralytics")
    )


@contextmanager
def keep_torch_threads():
    """The job's threads in ultralytics' calls: its device selection sets torch to
    cpu_count - 1 threads (1 on a 2-core machine), and the onnxruntime session it builds on
    first use gets no options (every core, spin-waiting); here that session gets
    :func:`trimodal.plumbing.threads.ort_options` and torch is set back to the job's count."""
    import torch
    from ultralytics.nn.backends import onnx as backend

    torch_threads()
    init = backend.ONNXBackend.__init__

    def with_options(self, *args, session_options=None, **kwargs):
        init(self, *args, session_options=session_options or ort_options(), **kwargs)

    backend.ONNXBackend.__init__ = with_options
    try:
        yield
    finally:
        backend.ONNXBackend.__init__ = init
        torch.set_num_threads(job_threads())


def load_yolo(spec: str, runtime: str = "torch"):
    """An ultralytics YOLO; runtime "onnx" runs a PyTorch checkpoint through onnxruntime.

    On CPU, onnxruntime ran the packaged detector 1.2-1.4x faster than PyTorch with the same
    detections (docs/benchmarks.md); the ONNX file is exported once per checkpoint into the
    model cache.
    """
    ultralytics_offline()
    from ultralytics import YOLO

    path = resolve_model(spec)
    if runtime == "onnx" and str(path).endswith(".pt"):
        path = onnx_export(Path(path))
    elif runtime not in ("torch", "onnx"):
        raise ValueError(f"YOLO runtime must be torch or onnx, not {runtime!r}")
    return YOLO(str(path), task="detect")


def onnx_export(checkpoint: Path) -> Path:
    """The checkpoint exported to ONNX (dynamic batch and size), cached by content hash.

    Exported in a private folder and moved into place by the atomic writer, so concurrent jobs
    that need the same export never see a half-written file.
    """
    from ultralytics import YOLO

    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    target = model_cache() / "yolo-onnx" / f"{checkpoint.stem}-{digest}.onnx"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        pt = Path(tmp) / checkpoint.name
        shutil.copyfile(checkpoint, pt)
        out = YOLO(str(pt)).export(format="onnx", dynamic=True, simplify=False, verbose=False)
        write_file(target, lambda dest: os.replace(out, dest), shared=True)
    return target


def coco_names() -> dict[int, str]:
    """The COCO-80 class names shipped with ultralytics (its coco.yaml)."""
    from pathlib import Path

    import ultralytics
    import yaml

    path = Path(ultralytics.__file__).parent / "cfg" / "datasets" / "coco.yaml"
    return {int(k): str(v) for k, v in yaml.safe_load(path.read_text())["names"].items()}


def objects_sentence(class_names: list[str]) -> str:
    """Class names by decreasing frequency (ties: first seen), comma-separated."""
    return ", ".join(name for name, _ in Counter(class_names).most_common())


class YoloExtractor(FrameExtractor):
    name = "yolo"
    PARAMS = {
        **FRAME_PARAMS,
        "conf": Param(float, 0.25, "minimum detection confidence", ge=0, le=1),
        "imgsz": Param(int, 640, "inference size in pixels", ge=32),
        "batch_size": Param(int, 16, "frames per forward pass", ge=1),
        "runtime": Param(str, "auto", "auto: onnx on CPU, torch on GPU",
                         choices=("auto", "torch", "onnx")),
    }  # fmt: skip
    POOLINGS = ("proba_max", "proba_avg", "text")

    @classmethod
    def uses_gpu(cls, model, params) -> bool:
        """Unless `runtime: onnx` (an onnxruntime CPU session); auto picks PyTorch on a GPU."""
        return cls.with_defaults(params)["runtime"] != "onnx"

    @classmethod
    def hub_repo(cls, model: str) -> str | None:
        return None  # ultralytics downloads from GitHub releases, not the Hugging Face Hub

    def load(self) -> None:
        self.model_spec = self.model_spec or DEFAULT_MODEL
        self.runtime = self.param("runtime")
        if self.runtime == "auto":  # onnxruntime on CPU; PyTorch on a GPU
            self.runtime = "torch" if str(self.device).startswith("cuda") else "onnx"
        with keep_torch_threads():  # reading .names of an ONNX model sets up a predictor
            self.yolo = load_yolo(self.model_spec, self.runtime)
            self.names = {int(k): str(v) for k, v in self.yolo.names.items()}
        # a model built from an architecture yaml (yolov8n.yaml) has numbers for names: the
        # 80-class layout is COCO's
        if len(self.names) == 80 and all(v.isdigit() for v in self.names.values()):
            self.names = coco_names()

    def detect(self, images: list[np.ndarray]) -> list:
        """Ultralytics Results for a batch of RGB frames."""
        # ultralytics treats numpy input as BGR (OpenCV convention)
        bgr = [np.ascontiguousarray(im[:, :, ::-1]) for im in images]
        with keep_torch_threads():
            return self.yolo.predict(
                bgr,
                conf=float(self.param("conf")),
                imgsz=int(self.param("imgsz")),
                device=self.device,
                verbose=False,
                batch=len(bgr),
            )

    def decode_size(self) -> int:
        return int(self.param("imgsz"))  # short side: YOLO letterboxes to imgsz anyway

    def process(self, frames) -> list[tuple]:
        """Per frame of the batch: (frame, class ids, confidences, boxes) from one detect call;
        only these small arrays are kept, never the results' copies of the images."""
        out = []
        for frame, res in zip(frames, self.detect([f.rgb for f in frames]), strict=True):
            boxes = res.boxes
            out.append((
                frame._replace(rgb=None),
                boxes.cls.cpu().numpy().astype(int),
                boxes.conf.cpu().numpy().astype(np.float32),
                boxes.xyxy.cpu().numpy().astype(np.float32),
            ))  # fmt: skip
        return out

    def extract(self, item: VideoItem) -> Features:
        frames = self.run_frames(item, int(self.param("batch_size")), label="yolo")
        n_classes = len(self.names)
        rows, per_frame = [], []
        for frame, cls, conf, xyxy in (row for batch in frames.outputs for row in batch):
            scores = np.zeros(n_classes, dtype=np.float32)
            np.maximum.at(scores, cls, conf)
            for c, p, (x1, y1, x2, y2) in zip(cls, conf, xyxy, strict=True):
                rows.append((frame.index, frame.time, c, self.names[c], p, x1, y1, x2, y2))
            per_frame.append(scores)
        windows = np.stack(per_frame)
        det = pd.DataFrame(
            rows,
            columns=["frame", "time", "class_id", "class_name", "confidence",
                     "x1", "y1", "x2", "y2"],
        )  # fmt: skip
        det = det.astype({"frame": "int64", "time": "float64", "class_id": "int64",
                          "class_name": "str", "confidence": "float32"})  # fmt: skip
        t, fps = frames.times, frames.fps
        step = 1.0 / fps if len(t) < 2 else float(np.median(np.diff(t))) or 1.0 / fps
        return Features(
            windows=windows,
            times=np.stack([t, t + step], axis=1),
            pooled={"proba_max": windows.max(axis=0), "proba_avg": windows.mean(axis=0)},
            text=objects_sentence(det["class_name"].tolist()),
            tables={"detections": det},
            attrs={
                **self.model_attrs(),
                "n_frames": len(windows),
                "n_detections": len(det),
                "class_names": ",".join(self.names[i] for i in range(n_classes)),
                "fps": fps,
                "runtime": self.runtime,
                **{k: v for k, v in frames.decode_attrs().items() if k not in ("n_frames", "fps")},
            },
        )
