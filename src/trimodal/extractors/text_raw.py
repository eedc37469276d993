"""Raw text of a video's sources, stored for bag-of-words classifiers.

TF-IDF and count vectorisers learn a vocabulary and document frequencies from the rows they are
fitted on, so fitting them in the extract job (on every video) would leak test rows into the
features. This extractor stores only the cleaned text; the classifier stage puts
:func:`make_text_vectorizer` first in a pipeline that cross-validation fits on training folds.
"""

from __future__ import annotations

from trimodal.extractors.base import TEXT_SOURCES, Extractor, Features, Param, VideoItem
from trimodal.extractors.text_sources import coverage_attrs, gather_text


class TextRawExtractor(Extractor):
    """The cleaned text of `sources` (see trimodal.extractors.text_sources.gather_text), joined."""

    name = "text_raw"
    modality = "text"
    PARAMS = {
        "sources": TEXT_SOURCES,
        "joiner": Param(str, " ", "put between the texts of several sources"),
    }
    POOLINGS = ("text",)

    @classmethod
    def uses_gpu(cls, model, params) -> bool:
        """Never: no model."""
        return False

    @classmethod
    def hub_repo(cls, model: str) -> str | None:
        return None  # no model

    def extract(self, item: VideoItem) -> Features:
        text, present = gather_text(item, self.param("sources"), self.param("joiner"))
        return Features(
            text=text,
            attrs={**coverage_attrs(present), "n_chars": len(text), "n_words": len(text.split())},
        )


def make_text_vectorizer(kind: str = "tfidf", **kw):
    """An unfitted TfidfVectorizer ("tfidf") or CountVectorizer ("count") with sane defaults.

    Defaults: unigrams and bigrams, accents stripped, lower-cased, every term kept (min_df=1; the
    corpora are small), sublinear term frequency for TF-IDF. Keyword arguments override them.
    """
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    defaults = {"ngram_range": (1, 2), "min_df": 1, "strip_accents": "unicode", "lowercase": True}
    if kind == "tfidf":
        return TfidfVectorizer(**{**defaults, "sublinear_tf": True, **kw})
    if kind == "count":
        return CountVectorizer(**{**defaults, **kw})
    raise ValueError(f"unknown text vectorizer {kind!r}; use 'tfidf' or 'count'")
