"""YAMNet (packaged int8 ONNX), VGGish (torch with random weights; TF in a subprocess), Whisper."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from trimodal import audio_features as af
from trimodal.extractors.base import ExtractionError, VideoItem

SR = 16000
NOISES = "usr/share/qabcs/abcs/all/noises"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    # reuse an existing cache when the caller set one, else a throwaway one
    os.environ.setdefault("TRIMODAL_MODEL_CACHE", str(tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="module")
def yamnet(model_cache):
    from trimodal.extractors.yamnet import YamnetExtractor

    e = YamnetExtractor("packaged:yamnet-int8-onnx", {"top_k": 5})
    e.ensure_loaded()
    return e


def _wav(path: Path, x: np.ndarray, sr: int = SR) -> str:
    sf.write(path, x, sr)
    return str(path)


def _espeak(path: Path, sentence: str) -> str:
    subprocess.run(["espeak-ng", "-w", str(path), sentence], check=True)
    return str(path)


# --- YAMNet ---------------------------------------------------------------------------------


def test_yamnet_quantisation_read_from_graph(yamnet):
    # audio_scale / zero point as stored in the graph (float32 0x3D445A84, uint8 0x90)
    assert yamnet.quant["audio_scale"] == pytest.approx(0.0479379, rel=1e-5)
    assert yamnet.quant["audio_zero_point"] == 144
    assert yamnet.quant["class_scores_zero_point"] == 190
    assert len(yamnet.class_names) == 521 and yamnet.class_names[0] == "Speech"


def test_yamnet_outputs_and_streaming_equals_whole_file(yamnet, tmp_path):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(SR * 5)).astype(np.float32)
    path = _wav(tmp_path / "n.wav", x)
    x, _ = sf.read(path, dtype="float32")  # what the 16-bit file decodes to
    yamnet.params["chunk_s"] = 0.7  # many chunk borders inside windows
    f = yamnet.extract(VideoItem("v", video=path))
    n = 1 + (len(x) - af.PATCH_SAMPLES) // 7680
    assert f.windows.shape == (n, 521) and f.times.shape == (n, 2)
    assert np.allclose(f.times[1], [0.48, 1.44])
    assert ((f.windows >= 0) & (f.windows <= 1)).all()
    assert set(f.pooled) == {"mean", "max", "attn", "mean_max"} and f.pooled["mean_max"].shape == (
        1042,
    )
    np.testing.assert_allclose(yamnet.scores(af.yamnet_patches(x)), f.windows, atol=1e-6)
    assert f.text.split("; ")[0] == f.tables["top"]["name"][0] and len(f.tables["top"]) == 5
    yamnet.params.update(chunk_s=30.0, hop=0.96)
    assert (
        yamnet.extract(VideoItem("v", video=path)).windows.shape[0] == 1 + (len(x) - 15600) // 15360
    )
    yamnet.params["hop"] = 0.48


def test_yamnet_bad_inputs(yamnet, tmp_path):
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=d=1:s=64x48",
            str(tmp_path / "v.mp4"),
        ],
        check=True,
    )
    probe = {"ok": True, "audio": None, "video": {"codec": "h264"}}
    with pytest.raises(ExtractionError, match="no audio stream"):
        yamnet.extract(VideoItem("v", video=str(tmp_path / "v.mp4"), probe=probe))
    with pytest.raises(ExtractionError, match="no audio stream"):  # without a probe
        yamnet.extract(VideoItem("v", video=str(tmp_path / "v.mp4")))
    yamnet.params["source"] = "ad_audio"
    try:
        with pytest.raises(ExtractionError, match="no ad_audio"):
            yamnet.extract(VideoItem("v", video=str(tmp_path / "v.mp4")))
    finally:
        yamnet.params["source"] = "soundtrack"


def _top(yamnet, path, k=5):
    return yamnet.extract(VideoItem("v", video=str(path))).tables["top"]["name"].tolist()[:k]


@pytest.mark.slow
def test_yamnet_real_sounds(yamnet, real_media, tmp_path):
    top = _top(yamnet, real_media / NOISES / "dog.ogg")
    assert {"Dog", "Bark"} & set(top), top
    top = _top(yamnet, real_media / NOISES / "accordion.ogg")
    assert {"Accordion", "Music", "Musical instrument"} & set(top), top
    speech = _espeak(tmp_path / "s.wav", "Today we are testing a speech recognition model")
    assert _top(yamnet, speech)[0] == "Speech"


# --- VGGish ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vggish_random_weights(tmp_path_factory):
    import torch

    from trimodal.extractors.vggish import build_vggish

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vggish") / "vggish_random.pt"
    torch.save(build_vggish().state_dict(), path)
    return path


def test_vggish_random_weights_torch_backend(vggish_random_weights, tmp_path):
    import torch

    from trimodal.extractors.vggish import VggishExtractor, build_vggish

    x = (0.1 * np.random.default_rng(0).standard_normal(SR * 3)).astype(np.float32)
    path = _wav(tmp_path / "n.wav", x)
    x, _ = sf.read(path, dtype="float32")
    e = VggishExtractor(str(vggish_random_weights), {"chunk_s": 0.5})
    e.ensure_loaded()
    f = e.extract(VideoItem("v", video=path))
    assert f.windows.shape == (3, 128) and np.allclose(f.times[:, 0], [0, 0.96, 1.92])
    assert set(f.pooled) == {"mean", "max", "attn", "mean_max"} and f.pooled["attn"].shape == (128,)
    # same numbers as the network applied to the whole-file official patches
    net = build_vggish()
    net.load_state_dict(torch.load(vggish_random_weights, weights_only=True))
    with torch.inference_mode():
        ref = net(torch.from_numpy(np.array(af.vggish_patches(x)[:, None]))).numpy()
    np.testing.assert_allclose(f.windows, ref, rtol=1e-4, atol=1e-5)
    # PCA post-processing maps into 0..255
    pca = tmp_path / "pca.npz"
    np.savez(
        pca, pca_eigen_vectors=np.eye(128, dtype=np.float32), pca_means=np.zeros(128, np.float32)
    )
    e2 = VggishExtractor(str(vggish_random_weights), {"pca": str(pca)})
    e2.ensure_loaded()
    w = e2.extract(VideoItem("v", video=path)).windows
    assert w.min() >= 0 and w.max() <= 255 and np.allclose(w, np.round(w))


def test_vggish_random_weights_state_dict_layout():
    """Key names and shapes of the common torchvggish conversion, so its .pth loads as is."""
    from trimodal.extractors.vggish import build_vggish

    sd = build_vggish().state_dict()
    convs = {0: (64, 1), 3: (128, 64), 6: (256, 128), 8: (256, 256), 11: (512, 256), 13: (512, 512)}
    fcs = {0: (4096, 12288), 2: (4096, 4096), 4: (128, 4096)}
    expected = {f"features.{i}.weight": (*io, 3, 3) for i, io in convs.items()}
    expected |= {f"embeddings.{i}.weight": io for i, io in fcs.items()}
    expected |= {f"features.{i}.bias": (io[0],) for i, io in convs.items()}
    expected |= {f"embeddings.{i}.bias": (io[0],) for i, io in fcs.items()}
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected


def test_vggish_random_weights_missing_or_wrong_weights(tmp_path):
    from trimodal.extractors.vggish import VggishExtractor

    with pytest.raises(FileNotFoundError, match="state_dict"):
        VggishExtractor(str(tmp_path / "none.pt")).ensure_loaded()
    with pytest.raises(ValueError, match="backend"):
        VggishExtractor("x", {"backend": "jax"})


def _tf_python() -> str:
    python = os.environ.get("TRIMODAL_TF_PYTHON")
    if not python:
        pytest.skip("TRIMODAL_TF_PYTHON not set: no interpreter with TensorFlow to test with")
    r = subprocess.run([python, "-c", "import tensorflow"], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"tensorflow is not importable in TRIMODAL_TF_PYTHON={python}")
    return python


def test_vggish_random_weights_tf_subprocess(tmp_path):
    """A tiny random SavedModel ([n,96,64] -> [n,128]) run through the TF subprocess path."""
    python = _tf_python()
    w = np.random.default_rng(0).standard_normal((96 * 64, 128)).astype(np.float32) * 0.01
    np.save(tmp_path / "w.npy", w)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        w = tf.constant(np.load({str(tmp_path / "w.npy")!r}))
        class M(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([None, 96, 64], tf.float32)])
            def __call__(self, x):
                return tf.matmul(tf.reshape(x, [-1, 96 * 64]), w)
        tf.saved_model.save(M(), {str(tmp_path / "sm")!r})
    """)
    subprocess.run([python, "-c", script], check=True, capture_output=True)
    from trimodal.extractors.vggish import VggishExtractor

    x = (0.1 * np.random.default_rng(1).standard_normal(SR * 4)).astype(np.float32)
    path = _wav(tmp_path / "n.wav", x)
    x, _ = sf.read(path, dtype="float32")
    e = VggishExtractor(str(tmp_path / "sm"), {"backend": "tf", "tf_python": python})
    e.ensure_loaded()
    f = e.extract(VideoItem("v", video=path))
    expected = af.vggish_patches(x).reshape(-1, 96 * 64) @ w
    assert f.windows.shape == (4, 128)
    np.testing.assert_allclose(f.windows, expected, rtol=1e-3, atol=1e-4)


def test_vggish_tf_waveform_slices_match_one_call(monkeypatch):
    """The Hub path feeds long waveforms in patch-aligned slices: same patches as one call."""
    from trimodal.extractors import vggish_tf  # imports numpy only; TensorFlow is lazy

    def fake_hub(wave):  # stands in for hub VGGish: its own framing, one row per 0.96 s patch
        return af.vggish_patches(np.asarray(wave)).reshape(-1, 96 * 64)[:, :128]

    x = (0.1 * np.random.default_rng(2).standard_normal(SR * 10 + 777)).astype(np.float32)
    monkeypatch.setattr(vggish_tf, "SLICE_PATCHES", 3)
    sliced = vggish_tf.embed_waveform(fake_hub, x)
    assert sliced.shape == (10, 128)
    np.testing.assert_allclose(sliced, fake_hub(x), atol=1e-6)


def test_vggish_tf_module_never_imports_torch():
    src = Path(__file__).resolve().parents[1] / "src" / "trimodal" / "extractors" / "vggish_tf.py"
    assert not re.search(r"^\s*(import|from)\s+(torch|trimodal)", src.read_text(), re.M)


# --- Whisper --------------------------------------------------------------------------------


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance / number of reference words."""

    def words(s):
        return re.sub(r"[^a-z0-9' ]", " ", s.lower()).split()

    r, h = words(reference), words(hypothesis)
    d = np.arange(len(h) + 1)
    for i in range(1, len(r) + 1):
        prev, d = d, np.empty_like(d)
        d[0] = i
        for j in range(1, len(h) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return d[-1] / max(len(r), 1)


def test_wer():
    assert wer("the cat sat", "the cat sat") == 0
    assert wer("the cat sat", "The cat, sat!") == 0
    assert wer("the cat sat", "the dog sat on") == pytest.approx(2 / 3)
    assert wer("a b", "") == 1


def test_whisper_bad_inputs_before_loading(tmp_path):
    from trimodal.extractors.whisper import WhisperExtractor

    e = WhisperExtractor("tiny.en", {"source": "ad_audio"})
    with pytest.raises(ExtractionError, match="no ad_audio"):
        e.extract(VideoItem("v", video="x.mp4"))
    e.params["source"] = "soundtrack"
    with pytest.raises(ExtractionError, match="no audio stream"):
        e.extract(VideoItem("v", video="x.mp4", probe={"ok": True, "audio": None}))


@pytest.fixture(scope="module")
def whisper(model_cache):
    from trimodal.extractors.whisper import WhisperExtractor

    e = WhisperExtractor("tiny.en", {"vad": True, "beam_size": 1, "compute_type": "int8"})
    e.ensure_loaded()
    return e


SENTENCES = [
    "Today we are testing a speech recognition model",
    "The weather is cold and the children are playing in the park",
    "A man walks into the kitchen and opens the window",
]


@pytest.mark.slow
def test_whisper_espeak_sentences_wer(whisper, tmp_path):
    # Measured with tiny.en int8, greedy, VAD on: 8 errors over the 30 words (WER 0.27; espeak's
    # robotic voice costs e.g. "the weather" -> "when there"). 0.4 leaves room for other CPUs'
    # int8 kernels while still failing on a broken pipeline (wrong rate or garbage: WER ~ 1).
    errors = words = 0
    for i, s in enumerate(SENTENCES):
        f = whisper.extract(VideoItem("v", video=_espeak(tmp_path / f"{i}.wav", s)))
        assert f.attrs["language"] == "en" and f.attrs["n_segments"] >= 1
        seg = f.tables["segments"]
        assert list(seg.columns) == ["start", "end", "text", "avg_logprob", "no_speech_prob"]
        assert (seg["end"] >= seg["start"]).all() and seg["end"].max() < 6
        errors += wer(s, f.text) * len(s.split())
        words += len(s.split())
    assert errors / words < 0.4, errors / words


@pytest.mark.slow
def test_whisper_music_and_noise_with_vad_are_empty(whisper, real_media):
    for name in ["accordion.ogg", "drums.ogg", "dog.ogg"]:
        f = whisper.extract(VideoItem("v", video=str(real_media / NOISES / name)))
        assert len(f.text.split()) <= 2, (name, f.text)
    assert f.attrs["no_speech"] == (f.attrs["n_segments"] == 0)


@pytest.mark.slow
def test_whisper_chunked_long_audio_offsets(whisper, tmp_path):
    """Two sentences 40 s apart, transcribed in 30 s chunks: the second keeps its time."""
    a, _ = sf.read(_espeak(tmp_path / "a.wav", SENTENCES[0]))
    b, sr = sf.read(_espeak(tmp_path / "b.wav", SENTENCES[1]))
    x = np.zeros(sr * 50)
    x[sr : sr + len(a)] = a
    x[sr * 41 : sr * 41 + len(b)] = b
    whisper.params["chunk_s"] = 30.0
    try:
        f = whisper.extract(VideoItem("v", video=_wav(tmp_path / "long.wav", x, sr)))
    finally:
        whisper.params["chunk_s"] = 600.0
    seg = f.tables["segments"]
    assert "park" in f.text.lower() and "testing" in f.text.lower()
    assert seg["start"].iloc[-1] == pytest.approx(41, abs=1.5)
