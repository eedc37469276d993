"""trimodal: per-modality features from a video corpus, classification, fusion, cross-modal mapping.

The Snakemake workflow at the repository root calls into this package; everything here is
importable and unit-tested without Snakemake.
"""

__version__ = "0.1.0"
