"""Extractors: one model each, registered by name; a module is imported only when its job runs.

``base`` (Extractor, Param, the registry; ``frame_base.FrameExtractor`` owns the frame loop),
``pooling`` (windows -> one vector per video), ``text_sources`` (which texts a text extractor
reads), ``config`` (a config entry checked by what its class declares), and the built-in
extractors registered below.

Add an extractor: a module here (or anywhere on the path) and a config entry
(docs/architecture.md, "Recipe: add an extractor"); register a built-in one below.
"""

from trimodal.extractors.base import register

# kind name            module:class
register("frame_embedding", "trimodal.extractors.frame_embedding:FrameEmbeddingExtractor")
register("yolo", "trimodal.extractors.yolo:YoloExtractor")
register("cuts", "trimodal.extractors.cuts:CutsExtractor")
register("clip_video", "trimodal.extractors.clip_video:ClipEmbeddingExtractor")
register("clip_frames", "trimodal.extractors.clip_frames:ClipFramesExtractor")
register("yamnet", "trimodal.extractors.yamnet:YamnetExtractor")
register("vggish", "trimodal.extractors.vggish:VggishExtractor")
register("whisper", "trimodal.extractors.whisper:WhisperExtractor")
register("sbert", "trimodal.extractors.sbert:SbertExtractor")
register("text_raw", "trimodal.extractors.text_raw:TextRawExtractor")
