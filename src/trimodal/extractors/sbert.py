"""Sentence-BERT embeddings of a video's text (description, transcripts, objects sentence...).

Any sentence-transformers model works: the offline defaults resolve to packaged weights
("sentence-transformers/all-MiniLM-L6-v2", 384-d; "sentence-transformers/all-mpnet-base-v2",
768-d, assembled once into the model cache), hub ids such as
"sentence-transformers/paraphrase-distilroberta-base-v1" download when there is internet.

A sentence-transformers model silently truncates input beyond ``max_seq_length`` tokens, and
transcripts of long videos are far longer. So the text is cut into overlapping chunks of at most
``max_seq_length`` tokens (counted by the model's own tokenizer, cut at word starts), each chunk
is embedded, and the chunk vectors are the windows. Their ``times`` are **token offsets**
``(first token, end token)`` in the tokenised text, not seconds: text has no clock.
"""

from __future__ import annotations

import numpy as np

from trimodal.extractors.base import (
    POOLED,
    TEXT_SOURCES,
    ExtractionError,
    Extractor,
    Features,
    Param,
    VideoItem,
)
from trimodal.extractors.pooling import pool_all
from trimodal.extractors.text_sources import coverage_attrs, gather_text
from trimodal.plumbing.batching import model_batch
from trimodal.plumbing.device import pick_device


def token_spans(
    n_tokens: int, window: int, overlap: int, word_ids: list | None = None
) -> list[tuple[int, int]]:
    """(start, end) token ranges covering ``n_tokens`` with windows of at most ``window``.

    Consecutive windows overlap by about ``overlap`` tokens. With ``word_ids`` (one per token, as
    a fast tokenizer gives), boundaries move back to the first token of a word so no word is cut,
    unless that would shrink a window below half its size.
    """
    if window < 1:
        raise ValueError("window must be >= 1")
    overlap = max(0, min(overlap, window // 2))

    def snap(b: int, floor: int) -> int:
        if word_ids is None or b <= 0 or b >= n_tokens:
            return b
        s = b
        while s > floor and word_ids[s] is not None and word_ids[s] == word_ids[s - 1]:
            s -= 1
        return s if s - floor >= window // 2 else b

    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + window, n_tokens)
        if end < n_tokens:
            end = snap(end, start)
        spans.append((start, end))
        if end >= n_tokens:
            return spans
        nxt = max(end - overlap, start + 1)
        snapped = snap(nxt, start)
        start = snapped if snapped > start else nxt


class SbertExtractor(Extractor):
    """Chunked Sentence-BERT embeddings of the text of `sources` (see PARAMS)."""

    name = "sbert"
    modality = "text"
    DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
    PARAMS = {
        "sources": TEXT_SOURCES,
        # run-time, like threads: other batch sizes agree to float32 rounding (~1e-7,
        # tests/extractors/test_text.py), the GPU OOM retry halves it
        "batch_size": Param(int, 32, "chunks per forward pass", ge=1, runtime=True),
        "normalize": Param(bool, False, "L2-normalise the chunk embeddings"),
        "overlap": Param(int, None, "tokens shared by consecutive chunks (null: min(32, 1/4))",
                         ge=0),
    }  # fmt: skip
    POOLINGS = (*POOLED, "text")

    @classmethod
    def hub_repo(cls, model: str) -> str | None:
        # sentence-transformers looks a bare name up under its own organisation
        return model if "/" in model else f"sentence-transformers/{model}"

    def load(self) -> None:
        from sentence_transformers import SentenceTransformer

        from trimodal.plumbing.models import resolve_model

        self.model_spec = self.model_spec or self.DEFAULT_MODEL
        self.model = SentenceTransformer(
            resolve_model(self.model_spec), device=pick_device(self.device)
        )
        self.tokenizer = self.model.tokenizer
        # room for the special tokens ([CLS]/[SEP], <s>/</s>) the model adds to every chunk
        n_special = self.tokenizer.num_special_tokens_to_add(pair=False)
        self.window = int(self.model.max_seq_length) - n_special
        if self.window < 8:
            raise ValueError(f"max_seq_length {self.model.max_seq_length} is too small to chunk")

    def chunks(self, text: str) -> tuple[list[str], np.ndarray, int]:
        """Chunk texts, their (start, end) token offsets, and the number of tokens."""
        enc = self.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        offsets = enc["offset_mapping"]
        n = len(offsets)
        if n == 0:
            raise ExtractionError("the text has no tokens for this model's tokenizer", "text")
        try:
            word_ids = enc.word_ids()
        except (ValueError, AttributeError):  # slow tokenizer: cut at token boundaries
            word_ids = None
        overlap = self.param("overlap")
        overlap = int(min(32, self.window // 4) if overlap is None else overlap)
        spans = token_spans(n, self.window, overlap, word_ids)
        texts, kept = [], []
        for s, e in spans:
            piece = text[offsets[s][0] : offsets[e - 1][1]]
            # a substring can tokenise a little differently from its slice of the whole text;
            # halve any piece that would not fit, so nothing is ever truncated by the model
            texts_spans = self._fit(piece, s, e)
            for t, span in texts_spans:
                texts.append(t)
                kept.append(span)
        return texts, np.asarray(kept, dtype=np.float64), n

    def _fit(self, piece: str, s: int, e: int) -> list[tuple[str, tuple[int, int]]]:
        ids = self.tokenizer(piece, add_special_tokens=False, verbose=False)["input_ids"]
        if len(ids) <= self.window or e - s < 2:
            return [(piece, (s, e))]
        words = piece.split(" ")
        if len(words) < 2:  # one enormous "word": cut by characters
            half_c = len(piece) // 2
            a, b = piece[:half_c], piece[half_c:]
        else:
            half_w = len(words) // 2
            a, b = " ".join(words[:half_w]), " ".join(words[half_w:])
        m = s + (e - s) // 2
        return self._fit(a, s, m) + self._fit(b, m, e)

    def extract(self, item: VideoItem) -> Features:
        text, present = gather_text(item, self.param("sources"))
        pieces, times, n_tokens = self.chunks(text)
        windows = self.model.encode(
            pieces,
            batch_size=model_batch(int(self.param("batch_size"))),
            normalize_embeddings=bool(self.param("normalize")),
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        windows = np.asarray(windows, dtype=np.float32).reshape(len(pieces), -1)
        if not np.isfinite(windows).all():
            raise ExtractionError("the model returned non-finite embeddings", "embed")
        return Features(
            windows=windows,
            times=times,
            pooled=pool_all(windows),
            text=text,
            attrs={
                **coverage_attrs(present),
                "n_chunks": len(pieces),
                "n_tokens": int(n_tokens),
                "n_chars": len(text),
                "max_seq_length": int(self.model.max_seq_length),
                "times_unit": "tokens",
            },
        )
