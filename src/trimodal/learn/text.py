"""The text front end of bag-of-words classifiers: a TF-IDF or count vectorizer, fitted inside
each training fold (the raw-text extractor, trimodal.extractors.text_raw, stores only the
cleaned text, so no vocabulary is learnt from test rows)."""

from __future__ import annotations


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
