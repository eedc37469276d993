"""Raw text of a video's sources, stored for bag-of-words classifiers.

TF-IDF and count vectorisers learn a vocabulary and document frequencies from the rows they are
fitted on, so fitting them in the extract job (on every video) would leak test rows into the
features. This extractor stores only the cleaned text; the classifier stage puts
:func:`trimodal.learn.text.make_text_vectorizer` first in a pipeline that cross-validation fits
on training folds.
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
