"""Built-in extractors, registered by name. Each module is imported only when its job runs."""

from trimodal.extractors.base import register

# kind name            module:class
register("sbert", "trimodal.extractors.sbert:SbertExtractor")
