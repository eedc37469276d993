"""Built-in extractors, registered by name. Each module is imported only when its job runs."""

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
