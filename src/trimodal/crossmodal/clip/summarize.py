"""Summaries that fit CLIP's 77-token context, for text-frame matching.

CLIP silently drops everything after 77 tokens, so a long description would be matched on its
first sentence only. Two ways to fit: an abstractive seq2seq summariser named in the config
(e.g. facebook/bart-large-cnn, needs internet), or, offline, an extractive summary: the sentences
closest to the SBERT centroid of the text, added greedily (most central first) while the
selection, kept in the original order, still fits. Either result is then cut token-exactly with
CLIP's own tokenizer, special tokens included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_SBERT = "sentence-transformers/all-MiniLM-L6-v2"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def n_tokens(text: str, tokenizer) -> int:
    """Token count as the model sees it, special tokens included."""
    return len(tokenizer(text, add_special_tokens=True)["input_ids"])


def truncate_to_tokens(text: str, tokenizer, max_tokens: int = 77) -> str:
    """Longest prefix (in tokens) of `text` whose encoding, specials included, is <= max_tokens.

    The cut is made in the original string through the tokenizer's character offsets, so case
    and punctuation survive (CLIP's tokenizer lowercases, so decoding would not give the text
    back); without offsets (slow tokenizers) it falls back to decoding the kept tokens. Either
    way the result is re-encoded and shortened until it fits.
    """
    if n_tokens(text, tokenizer) <= max_tokens:
        return text
    keep = max_tokens - n_tokens("", tokenizer)
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        cut_at = lambda k: text[: offsets[k - 1][1]].rstrip()  # noqa: E731
    except (NotImplementedError, KeyError, TypeError):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        cut_at = lambda k: tokenizer.decode(ids[:k], skip_special_tokens=True).strip()  # noqa: E731
    while keep > 0:
        cut = cut_at(keep)
        if n_tokens(cut, tokenizer) <= max_tokens:
            return cut
        keep -= 1
    return ""


def split_sentences(text: str) -> list[str]:
    parts = [s.strip() for s in _SENTENCE_END.split(" ".join(text.split()))]
    return [s for s in parts if s]


def extractive_summary(text: str, encoder, tokenizer, max_tokens: int = 77) -> str:
    """Most central sentences (cosine to the SBERT centroid), in original order, within budget."""
    sentences = split_sentences(text)
    if not sentences:
        return ""
    if len(sentences) > 1:
        emb = np.asarray(encoder.encode(sentences, normalize_embeddings=True))
        centroid = emb.mean(axis=0)
        order = np.argsort(-(emb @ centroid), kind="stable")
    else:
        order = np.array([0])
    chosen: list[int] = []
    for i in order:
        trial = sorted([*chosen, int(i)])
        if n_tokens(" ".join(sentences[j] for j in trial), tokenizer) <= max_tokens:
            chosen = trial
    if not chosen:  # even the most central sentence is too long: cut it
        return truncate_to_tokens(sentences[int(order[0])], tokenizer, max_tokens)
    return truncate_to_tokens(" ".join(sentences[j] for j in chosen), tokenizer, max_tokens)


def load_abstractive(model_id: str, device: str = "cpu"):
    """(model, tokenizer) of a seq2seq summariser.

    transformers 5 has no "summarization" pipeline task any more, so this calls the model's
    generate() directly, which also works on 4.x.
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from trimodal.plumbing.models import resolve_model

    path = resolve_model(model_id)
    return AutoModelForSeq2SeqLM.from_pretrained(path).to(
        device
    ).eval(), AutoTokenizer.from_pretrained(path)


def abstractive_summary(
    text: str, model, model_tokenizer, clip_tokenizer, max_tokens: int = 77, **gen_kw
) -> str:
    """Generate a summary of about max_tokens (summariser tokens), then cut it with CLIP's."""
    import torch

    enc = model_tokenizer(text, truncation=True, return_tensors="pt").to(model.device)
    kw = {"max_new_tokens": max_tokens, "num_beams": 4, "early_stopping": True, **gen_kw}
    with torch.no_grad():
        out = model.generate(**enc, **kw)
    summary = model_tokenizer.decode(out[0], skip_special_tokens=True).strip()
    return truncate_to_tokens(summary, clip_tokenizer, max_tokens)


class Summarizer:
    """Abstractive when its model loads, else extractive; records which one produced each text.

    config: {abstractive: model id or null, sbert: model spec, max_tokens: 77, device: cpu}.
    """

    def __init__(self, clip_tokenizer, config: Mapping[str, Any] | None = None, encoder=None):
        cfg = dict(config or {})
        self.clip_tokenizer = clip_tokenizer
        self.max_tokens = int(cfg.get("max_tokens", 77))
        self.method = "extractive"
        self.fallback_reason = ""
        self._abstractive = None
        if cfg.get("abstractive"):
            try:
                self._abstractive = load_abstractive(cfg["abstractive"], cfg.get("device", "cpu"))
                self.method = "abstractive"
            except (OSError, ValueError) as e:  # no internet / no such model: fall back
                self.fallback_reason = f"{cfg['abstractive']}: {type(e).__name__}: {e}"[:300]
        self._encoder = encoder
        self._sbert = cfg.get("sbert", DEFAULT_SBERT)

    @property
    def encoder(self):
        if self._encoder is None:
            from sentence_transformers import SentenceTransformer

            from trimodal.plumbing.models import resolve_model

            self._encoder = SentenceTransformer(resolve_model(self._sbert), device="cpu")
        return self._encoder

    def __call__(self, text: str) -> str:
        if n_tokens(text, self.clip_tokenizer) <= self.max_tokens:
            return text.strip()
        if self._abstractive is not None:
            model, tok = self._abstractive
            return abstractive_summary(text, model, tok, self.clip_tokenizer, self.max_tokens)
        return extractive_summary(text, self.encoder, self.clip_tokenizer, self.max_tokens)

    def summarise_all(self, texts: Mapping[str, str] | Sequence[tuple[str, str]]) -> dict[str, str]:
        items = texts.items() if isinstance(texts, Mapping) else texts
        return {vid: self(t) for vid, t in items}
