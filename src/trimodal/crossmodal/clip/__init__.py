"""CLIP: descriptions matched to frames, and generated images matched to videos.

``match`` (CLIP embeddings and text-frame similarity), ``summarize`` (summaries that fit CLIP's
77 tokens), ``distinct_frames`` (the k most distant frames), ``text2image`` (images generated
from summaries). The rules' entry point is ``trimodal.stages.clip``.

Add a CLIP-based comparison here, its entry point in ``trimodal.stages.clip``.
"""
