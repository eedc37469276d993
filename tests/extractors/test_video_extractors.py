"""Video extractors on real clips with real weights, tiny random-weight variants, bad inputs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from trimodal.extractors.base import ExtractionError, VideoItem
from trimodal.extractors.clip_video import ClipEmbeddingExtractor
from trimodal.extractors.cuts import FEATURE_NAMES, CutsExtractor
from trimodal.extractors.frame_embedding import FrameEmbeddingExtractor, imagenet_categories
from trimodal.extractors.yolo import YoloExtractor
from trimodal.media.keyframes import select_keyframes

SHARE = "usr/share"
LAUNCH = f"{SHARE}/games/renpy/demo/game/oa4_launch.webm"
INTRO = f"{SHARE}/games/fillets-ng/images/menu/intro.mpg"
HELLO = f"{SHARE}/forensics-samples/original-files/movie2/movie-hello.mp4"
DOG = f"{SHARE}/forensics-samples/original-files/movie1/VID_20191220_170832.mp4"


def _asset(name: str) -> np.ndarray:
    import ultralytics
    from PIL import Image

    path = Path(ultralytics.__file__).parent / "assets" / name
    return np.asarray(Image.open(path).convert("RGB"))


def _short_side(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    s = size / min(h, w)
    return np.asarray(Image.fromarray(img).resize((round(w * s), round(h * s)), Image.BILINEAR))


@pytest.fixture(scope="module")
def effnet():
    ex = FrameEmbeddingExtractor("efficientnet-lite0", {"fps": 1.0, "batch_size": 4})
    ex.ensure_loaded()
    return ex


@pytest.fixture(scope="module")
def person_yolo():
    ex = YoloExtractor("packaged:yolov8-person", {"fps": 1.0, "batch_size": 4, "imgsz": 640})
    ex.ensure_loaded()
    return ex


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, real_media):
    d = tmp_path_factory.mktemp("bad")
    audio = d / "audio_only.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
         "-c:a", "aac", audio],
        check=True,
    )  # fmt: skip
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    data = real_media / SHARE / "gocode/src/github.com/gabriel-vasile/mimetype/testdata/mp4.mp4"
    headless = d / "cut_no_index.mp4"  # moov at the end: nothing decodable after the cut
    headless.write_bytes(data.read_bytes()[: int(data.stat().st_size * 0.6)])
    return {"audio_only": audio, "empty": empty, "cut_no_index": headless}


# -- frame embeddings ----------------------------------------------------------------------------
def test_effnet_top1_on_real_images(effnet):
    names = imagenet_categories()
    _, proba = effnet.embed_images([_short_side(_asset("bus.jpg"), 224)])
    top = names[int(proba[0].argmax())]
    # the packaged weights say "minibus" (ImageNet's bus-like classes)
    assert top in {"minibus", "school bus", "trolleybus", "passenger car", "police van"}, top
    assert proba.shape == (1, 1000) and abs(proba.sum() - 1) < 1e-4


@pytest.mark.slow
def test_effnet_video_features(effnet, real_media):
    f = effnet.extract(VideoItem("launch", video=str(real_media / LAUNCH)))
    assert f.windows.shape == (9, 1280)  # 8.1 s at 1 frame/s
    np.testing.assert_allclose(f.times[:3], [[0, 1], [1, 2], [2, 3]], atol=0.05)
    assert set(f.pooled) == {"mean", "max", "attn", "mean_max", "proba_mean", "proba_max"}
    assert f.pooled["proba_mean"].shape == (1000,)
    assert abs(f.pooled["proba_mean"].sum() - 1) < 1e-3
    assert f.attrs["n_frames"] == 9 and f.attrs["model_fingerprint"]
    # a rocket on its launch pad
    assert any(k in f.attrs["top_classes"] for k in ("space shuttle", "missile", "projectile"))


def test_frame_embedding_transformers_random_weights(tmp_path, real_media):
    """The hub/local-folder path: a tiny random ResNet saved with its image processor."""
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetModel

    cfg = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_channels=3)
    ResNetModel(cfg).save_pretrained(tmp_path / "m")
    ConvNextImageProcessor(size={"shortest_edge": 64}, crop_pct=1.0).save_pretrained(tmp_path / "m")
    ex = FrameEmbeddingExtractor(str(tmp_path / "m"), {"fps": 2.0, "batch_size": 3})
    f = ex.extract(VideoItem("hello", video=str(real_media / HELLO)))
    assert f.windows.shape == (17, 16)  # 8.3 s at 2 frames/s, pooler output of size 16
    assert "proba_mean" not in f.pooled and f.pooled["mean"].shape == (16,)
    assert np.isfinite(f.windows).all() and f.windows.std(axis=0).max() > 0


# -- YOLO ----------------------------------------------------------------------------------------
def test_yolo_person_detector_on_real_images(person_yolo):
    assert person_yolo.names == {0: "Normal", 1: "Fall"}
    bus, zidane = person_yolo.detect([_asset("bus.jpg"), _asset("zidane.jpg")])
    assert len(bus.boxes) >= 3  # four people stand by the bus
    assert len(zidane.boxes) >= 2
    assert os.environ["YOLO_OFFLINE"] == "1"


def test_yolo_onnx_runtime_matches_pytorch_and_keeps_the_jobs_threads(person_yolo, monkeypatch):
    """The CPU default (onnxruntime, exported once into the model cache) finds the same boxes."""
    import torch

    monkeypatch.setenv("TRIMODAL_THREADS", "2")  # a job's threads (trimodal.plumbing.threads)

    assert person_yolo.runtime == "onnx"  # "auto" on CPU
    assert Path(person_yolo.yolo.ckpt_path or person_yolo.yolo.model_name).suffix == ".onnx"
    images = [_asset("bus.jpg"), _asset("zidane.jpg")]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fresh = YoloExtractor("packaged:yolov8-person", {})
        fresh.ensure_loaded()  # loading must not change the job's thread count either
        assert torch.get_num_threads() == 2
        pt = YoloExtractor("packaged:yolov8-person", {"runtime": "torch"})
        pt.ensure_loaded()
        for a, b in zip(person_yolo.detect(images), pt.detect(images), strict=True):
            assert len(a.boxes) == len(b.boxes) >= 2
            np.testing.assert_allclose(a.boxes.conf.numpy(), b.boxes.conf.numpy(), atol=0.02)
            np.testing.assert_allclose(a.boxes.xyxy.numpy(), b.boxes.xyxy.numpy(), atol=2.0)
        # ultralytics resets torch to cpu_count - 1 threads; the job's count is restored
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_yolo_video_features(person_yolo, real_media):
    f = person_yolo.extract(VideoItem("hello", video=str(real_media / HELLO)))
    n = len(f.windows)
    assert f.windows.shape == (n, 2) and n == 9  # 8.3 s at 1 frame/s
    det = f.tables["detections"]
    assert list(det.columns) == [
        "frame", "time", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2"
    ]  # fmt: skip
    assert len(det) >= n // 2 and set(det["class_name"]) <= {"Normal", "Fall"}
    assert f.text.split(", ")[0] == det["class_name"].value_counts().index[0]
    np.testing.assert_allclose(f.pooled["proba_max"], f.windows.max(axis=0))
    np.testing.assert_allclose(f.pooled["proba_avg"], f.windows.mean(axis=0), rtol=1e-5)
    assert f.pooled["proba_max"][0] > 0.25  # someone in the video


def test_yolo_coco80_random_weights(real_media):
    """The COCO-80 path (users pass yolov8n.pt online): architecture from yaml, random weights."""
    ex = YoloExtractor("yolov8n.yaml", {"fps": 1.0, "imgsz": 160, "conf": 0.0, "max_frames": 3})
    f = ex.extract(VideoItem("launch", video=str(real_media / LAUNCH)))
    assert len(ex.names) == 80 and ex.names[0] == "person"
    assert f.windows.shape == (3, 80) and f.pooled["proba_max"].shape == (80,)
    assert f.attrs["class_names"].startswith("person,bicycle,car")


# -- cuts ----------------------------------------------------------------------------------------
def test_cuts_rocket_launch_has_one_cut(real_media):
    """Reference: a contact sheet at 4 frames/s (ffmpeg fps=4,tile), looked at by eye: a wide
    shot of the launch pad for frames 0-11, then a close-up from frame 12 (3.0 s) to the end:
    exactly one cut, at ~3.0 s."""
    f = CutsExtractor(None, {}).extract(VideoItem("launch", video=str(real_media / LAUNCH)))
    d = dict(zip(FEATURE_NAMES, f.pooled["descriptors"], strict=True))
    assert f.attrs["feature_names"] == ",".join(FEATURE_NAMES)
    assert d["n_cuts"] == 1
    assert abs(f.tables["shots"]["start_s"].iloc[1] - 3.0) < 0.5
    assert (
        abs(d["duration_s"] - 8.09) < 0.1
        and d["fps"] == 24
        and (d["width"], d["height"]) == (640, 360)
    )
    assert abs(d["cuts_per_minute"] - 60 / 8.087) < 0.1


@pytest.mark.slow
def test_cuts_game_intro_count(real_media):
    """Reference: a 2 frames/s contact sheet of the 73 s intro, counted by eye: 16 shot changes
    (13.5, 20.5, 26.5, 32.5, 33.5, 40.5, 41, 42, 48.5, 53, 59.5, 64, 65, 65.5, 70, 71 s); several
    are dissolves and the last ones a fast montage, so the count is allowed +-2."""
    f = CutsExtractor(None, {}).extract(VideoItem("intro", video=str(real_media / INTRO)))
    assert abs(f.attrs["n_cuts"] - 16) <= 2
    shots = f.tables["shots"]
    assert len(shots) == f.attrs["n_cuts"] + 1 and shots["start_s"].is_monotonic_increasing


# -- key frames and clip models ------------------------------------------------------------------
def test_keyframes_on_real_clip(real_media):
    idx = select_keyframes(real_media / LAUNCH, 8)
    assert len(idx) == 8 and len(set(idx.tolist())) == 8 and (np.diff(idx) > 0).all()
    assert idx.max() < 195  # 8.1 s at 24 fps
    assert (select_keyframes(real_media / LAUNCH, 8) == idx).all()  # fixed seed
    # the launch clip has two shots: both are represented
    assert idx.min() < 72 and idx.max() > 72


def test_keyframes_pad_short_video(real_media):
    idx = select_keyframes(real_media / DOG, 64)  # 41 frames only
    assert len(idx) == 64 and (np.diff(idx) >= 0).all() and idx[0] == 0 and idx[-1] == 40
    assert len(set(idx.tolist())) == 41


def _tiny_video_model(kind: str, folder: Path) -> Path:
    from transformers import (
        VideoMAEConfig,
        VideoMAEImageProcessor,
        VideoMAEModel,
        VivitConfig,
        VivitImageProcessor,
        VivitModel,
    )

    common = dict(image_size=32, num_frames=4, hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=2, intermediate_size=64)  # fmt: skip
    proc = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    if kind == "vivit":
        VivitModel(VivitConfig(tubelet_size=[2, 8, 8], **common)).save_pretrained(folder)
        VivitImageProcessor(**proc).save_pretrained(folder)
    else:
        VideoMAEModel(VideoMAEConfig(tubelet_size=2, patch_size=8, **common)).save_pretrained(
            folder
        )
        VideoMAEImageProcessor(**proc).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind,arch,n_tokens", [("vivit", "VivitModel", 33),
                                                ("videomae", "VideoMAEModel", 32)])  # fmt: skip
def test_clip_video_random_weights(kind, arch, n_tokens, tmp_path, real_media):
    folder = _tiny_video_model(kind, tmp_path / kind)
    ex = ClipEmbeddingExtractor(str(folder), {})
    f = ex.extract(VideoItem("launch", video=str(real_media / LAUNCH)))
    assert f.attrs["architecture"] == arch and f.attrs["n_keyframes"] == 4
    assert f.attrs["n_tokens"] == n_tokens  # (4/2) * (32/8)^2 patches (+ CLS for ViViT)
    assert set(f.pooled) == {"cls", "mean", "max"}
    assert all(v.shape == (32,) for v in f.pooled.values())
    assert f.windows is None  # the token matrix is never stored
    assert (f.pooled["max"] >= f.pooled["mean"]).all()


# -- bad inputs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["audio_only", "empty", "cut_no_index"])
def test_bad_inputs_raise_extraction_error(bad, bad_inputs, effnet, person_yolo):
    path = str(bad_inputs[bad])
    for ex in (effnet, person_yolo, CutsExtractor(None, {})):
        with pytest.raises(ExtractionError):
            ex.extract(VideoItem(bad, video=path))
    with pytest.raises(ExtractionError):
        select_keyframes(path, 4)


def test_missing_file_raises(effnet):
    with pytest.raises(ExtractionError):
        effnet.extract(VideoItem("none", video="/nonexistent/video.mp4"))
    with pytest.raises(ExtractionError):
        CutsExtractor(None, {}).extract(VideoItem("none", video=None))


@pytest.mark.slow
def test_truncated_video_gives_partial_result(effnet, real_media, tmp_path):
    src = real_media / HELLO  # moov first: the first 60 % still decodes
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.6)])
    f = effnet.extract(VideoItem("cut", video=str(cut)))
    assert 3 <= f.attrs["n_frames"] < 9 and f.attrs["stopped_early"]
    c = CutsExtractor(None, {}).extract(VideoItem("cut", video=str(cut)))
    assert c.attrs["stopped_early"] and c.pooled["descriptors"][0] < 8.0


@pytest.mark.slow
def test_4k_and_vfr_inputs(effnet, person_yolo, real_media, tmp_path):
    src = real_media / SHARE / "gocode/src/github.com/gabriel-vasile/mimetype/testdata/mp4.mp4"
    uhd = tmp_path / "uhd.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", src, "-t", "2", "-vf", "scale=3840:2160",
         "-c:v", "libx264", "-preset", "ultrafast", uhd],
        check=True,
    )  # fmt: skip
    f = effnet.extract(VideoItem("uhd", video=str(uhd)))
    assert f.windows.shape == (2, 1280)
    y = person_yolo.extract(VideoItem("uhd", video=str(uhd)))
    det = y.tables["detections"]
    # boxes are in the decoded (resized: short side 640) frame, never 4K pixels
    assert len(det) == 0 or det[["x2"]].to_numpy().max() <= 640 * 16 / 9 + 1
    vfr = tmp_path / "vfr.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", src, "-an", "-vf",
         "setpts='if(lt(N,60),N/30,2+(N-60)/10)/TB'", "-fps_mode", "vfr",
         "-c:v", "libx264", "-preset", "ultrafast", vfr],
        check=True,
    )  # fmt: skip
    c = CutsExtractor(None, {}).extract(VideoItem("vfr", video=str(vfr)))
    assert abs(c.pooled["descriptors"][0] - 12.53) < 0.2  # timestamps, not 166 frames / 30 fps


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA device")
def test_effnet_and_yolo_on_cuda_match_cpu(effnet, person_yolo, real_media):
    item = VideoItem("launch", video=str(real_media / LAUNCH))
    gpu = FrameEmbeddingExtractor("efficientnet-lite0", {"fps": 1.0}, device="cuda")
    np.testing.assert_allclose(
        gpu.extract(item).windows, effnet.extract(item).windows, rtol=1e-2, atol=1e-2
    )
    ycpu = person_yolo.extract(VideoItem("hello", video=str(real_media / HELLO)))
    ygpu = YoloExtractor("packaged:yolov8-person", {"fps": 1.0}, device="cuda").extract(
        VideoItem("hello", video=str(real_media / HELLO))
    )
    np.testing.assert_allclose(ygpu.pooled["proba_max"], ycpu.pooled["proba_max"], atol=0.02)
