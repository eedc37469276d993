"""CLIP matching, 77-token summaries and the text-to-image stage.

No CLIP, BART or diffusion weights exist offline: the plumbing is tested on tiny models
initialised at random (test names say random_weights) and on a real byte-level BPE CLIPTokenizer
built here from a small vocab.json + merges.txt (same algorithm and special tokens as CLIP's, a
much smaller vocabulary: mostly one token per character). The extractive summary uses the real
packaged all-MiniLM-L6-v2.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.tiny_models import save_tiny_clip, tiny_clip_tokenizer
from trimodal.crossmodal.clip.match import _as_frame_list, clip_match
from trimodal.crossmodal.clip.summarize import (
    Summarizer,
    extractive_summary,
    n_tokens,
    split_sentences,
    truncate_to_tokens,
)
from trimodal.extractors.clip_model import load_clip

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def clip_tokenizer(tmp_path_factory):
    """A real CLIPTokenizer (byte-level BPE, <|startoftext|>/<|endoftext|>) with a tiny vocab."""
    return tiny_clip_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory, clip_tokenizer):
    """A random-init CLIP saved like a hub checkpoint, so load_clip's real path is exercised."""
    return save_tiny_clip(tmp_path_factory.mktemp("clip"), clip_tokenizer)


def _frames(n_videos: int, k: int = 2, seed: int = 0) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        f"v{i}": [rng.integers(0, 256, (40, 52, 3), dtype=np.uint8) for _ in range(k)]
        for i in range(n_videos)
    }


# --------------------------------------------------------------------------- token budget

LONG = (
    "A man walks into a kitchen and opens the fridge. He takes out two eggs and a bottle of "
    "milk. The camera shows a cat sleeping on the chair. He cracks the eggs into a bowl and "
    "whisks them. Outside, rain is falling on the garden. He pours the mixture into a hot pan. "
    "The omelette is folded and served on a white plate. A dog barks somewhere in the street."
)


def test_truncate_to_tokens_fits_budget_including_specials(clip_tokenizer):
    assert n_tokens(LONG, clip_tokenizer) > 77
    for budget in (77, 20, 5):
        cut = truncate_to_tokens(LONG, clip_tokenizer, max_tokens=budget)
        assert 0 < n_tokens(cut, clip_tokenizer) <= budget
        assert LONG.startswith(cut.rstrip())
    # maximal: one more token of the source would overflow
    cut = truncate_to_tokens(LONG, clip_tokenizer, 77)
    assert n_tokens(cut, clip_tokenizer) >= 75
    assert truncate_to_tokens("the end", clip_tokenizer) == "the end"


def test_split_sentences():
    assert split_sentences("One two. Three?  Four! five 3.5 six.") == [
        "One two.",
        "Three?",
        "Four! five 3.5 six.",
    ]


class _FakeEncoder:
    """Embeds sentences mentioning the omelette close together: they form the centroid."""

    def encode(self, sentences, normalize_embeddings=True):
        words = ("egg", "whisk", "pan", "omelette", "kitchen")
        v = np.array(
            [
                [1.0 + sum(w in s for w in words), 0.3 * ("cat" in s), 0.3 * ("rain" in s)]
                for s in sentences
            ]
        )
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_extractive_summary_keeps_central_sentences_in_order(clip_tokenizer):
    summary = extractive_summary(LONG, _FakeEncoder(), clip_tokenizer, max_tokens=77)
    assert n_tokens(summary, clip_tokenizer) <= 77
    sentences = split_sentences(LONG)
    picked = [s for s in sentences if s in summary]
    assert picked, summary
    assert [sentences.index(s) for s in picked] == sorted(sentences.index(s) for s in picked)
    assert "omelette" in summary or "eggs" in summary


@pytest.mark.slow
def test_summarizer_falls_back_to_extractive_with_real_minilm(
    clip_tokenizer, tmp_path, monkeypatch
):
    monkeypatch.setenv("TRIMODAL_MODEL_CACHE", str(tmp_path))
    s = Summarizer(
        clip_tokenizer, {"abstractive": str(tmp_path / "no-such-model"), "max_tokens": 77}
    )
    assert s.method == "extractive" and s.fallback_reason
    out = s.summarise_all({"a": LONG, "b": "Short text."})
    assert out["b"] == "Short text."
    assert n_tokens(out["a"], clip_tokenizer) <= 77
    assert any(sent in out["a"] for sent in split_sentences(LONG))


def test_abstractive_summary_random_weights(clip_tokenizer):
    """The seq2seq generate() path on a tiny random BART; output is cut to the CLIP budget."""
    from trimodal.crossmodal.clip.summarize import abstractive_summary

    torch.manual_seed(0)
    vocab = clip_tokenizer.get_vocab()
    cfg = transformers.BartConfig(
        vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=128,
        pad_token_id=vocab["<|endoftext|>"],
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        decoder_start_token_id=vocab["<|startoftext|>"],
        forced_eos_token_id=None,
    )
    model = transformers.BartForConditionalGeneration(cfg).eval()
    # the summariser is asked for 40 tokens of its own; the CLIP budget (10) must still hold
    out = abstractive_summary(
        LONG[:100],
        model,
        clip_tokenizer,
        clip_tokenizer,
        max_tokens=10,
        num_beams=1,
        max_new_tokens=40,
        min_new_tokens=40,
    )
    assert isinstance(out, str)
    assert n_tokens(out, clip_tokenizer) <= 10


# --------------------------------------------------------------------------- CLIP matching


def test_clip_match_random_weights(tiny_clip_dir):
    model, processor = load_clip(str(tiny_clip_dir))
    frames = _frames(5)
    texts = {f"v{i}": f"the dog and the cat number {i}" for i in range(4)}
    texts["absent"] = "no frames for this one"
    S, ids = clip_match(texts, frames, model, processor)
    assert list(ids) == ["v0", "v1", "v2", "v3"] and S.shape == (4, 4)
    assert np.all(np.abs(S) <= 1 + 1e-6)
    S_max, _ = clip_match(texts, frames, model, processor, frame_agg="max")
    assert S_max.shape == (4, 4)
    # mean-of-frames and max-over-frames really differ, and max >= similarity to any one frame
    assert not np.allclose(S, S_max)


def test_clip_match_identical_video_scores_identically_random_weights(tiny_clip_dir):
    """Two videos with the same frames must get the same column: no per-index leakage."""
    model, processor = load_clip(str(tiny_clip_dir))
    frames = _frames(3)
    frames["v2"] = list(frames["v0"])
    texts = {v: "the cat" for v in frames}
    S, _ = clip_match(texts, frames, model, processor)
    np.testing.assert_allclose(S[:, 0], S[:, 2], atol=1e-5)


def test_frame_list_shapes():
    f = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    assert len(_as_frame_list(f)) == 4
    with pytest.raises(ValueError):
        _as_frame_list([np.zeros((8, 8))])


@pytest.mark.parametrize("method", ["keyframes", "uniform"])
def test_clip_match_on_real_video_frames_random_weights(mimetype_clips, tiny_clip_dir, method):
    """Real frames of the LEGO clip (mp4 and webm copies) through the video helpers."""
    pytest.importorskip("trimodal.media.keyframes")
    from trimodal.crossmodal.clip.match import video_frames

    clips = {"mp4": mimetype_clips / "mp4.mp4", "webm": mimetype_clips / "webm.webm"}
    frames = {v: video_frames(p, k=3, method=method, size=64) for v, p in clips.items()}
    for fr in frames.values():
        assert len(fr) == 3 and fr[0].dtype == np.uint8 and fr[0].shape[-1] == 3
    model, processor = load_clip(str(tiny_clip_dir))
    S, ids = clip_match({"mp4": "a lego car", "webm": "a lego car"}, frames, model, processor)
    assert S.shape == (2, 2)
    # the same clip in two containers: the two videos' columns nearly agree
    np.testing.assert_allclose(S[:, 0], S[:, 1], atol=0.05)


# --------------------------------------------------------------------------- text to image


def test_text2image_metrics_of_a_matched_similarity():
    """An image closest to its own video's frames retrieves that video."""
    from trimodal.crossmodal.clip.text2image import text2image_metrics

    S = 0.5 + 0.5 * np.eye(4)
    m = text2image_metrics(S)
    assert m["R@1"] == 1.0 and m["sim_matched"] == pytest.approx(1.0) and m["sim_unmatched"] == 0.5
    assert m["sim_matched"] > m["sim_unmatched"]
