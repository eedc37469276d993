"""Media: probing and decoding, streamed with bounded memory.

``probe`` (duration, streams, codecs), ``frames`` (FrameSampler) over ``sampling`` and the
decord / PyAV backends with ``prefetch``, ``audio`` (streamed PCM), ``audio_features`` (log-mel
patches), ``keyframes`` (k-means key frames).

Add a decoder backend or a media-level transform here; extractors build on it.
"""
