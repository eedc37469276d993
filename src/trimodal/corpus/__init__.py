"""Corpus: where sample sheets come from.

``sheet`` reads and checks a sample sheet (every line a row or an error); ``fetch`` downloads
and unpacks the demo's packages, ``demo`` builds clips and the demo sheet (``python -m
trimodal.corpus``), ``badinputs`` makes broken or awkward media for the reliability tests,
``queryd`` imports a QuerYD download (``python -m trimodal.corpus.queryd``) with ``ad_track``
assembling its audio-description clips into one track per video.

Add an importer of another corpus (a module that writes a sample sheet) here.
"""

from trimodal.corpus.demo import build_demo_corpus, read_sheet
from trimodal.corpus.fetch import ensure_fetched

__all__ = ["build_demo_corpus", "ensure_fetched", "read_sheet"]
