"""Which text a text extractor reads: the written description and other extractors' outputs.

A text extractor names its sources (``["description"]``, ``["description", "ad_transcript"]`` or
``["all"]``). The workflow fills ``item.texts`` from other extractors' per-video outputs (Whisper
transcripts, the YOLO objects sentence, YAMNet labels); a source missing for one video is a gap
recorded in the coverage attributes (``has_<source>``), not an error. Only when *no* requested
source has any text does the video fail, with a reason naming the sources.
"""

from __future__ import annotations

import math
import re
import unicodedata

from trimodal.domain import ExtractionError, VideoItem

ALL = "all"
DESCRIPTION = "description"
_SPACES = re.compile(r"\s+")


def clean_text(value) -> str:
    """Text safe to embed and store: decoded, no control/format characters, single spaces.

    Accepts None, NaN (an empty cell of a pandas sheet), bytes (decoded as UTF-8 with damaged
    sequences replaced, then the replacement marks dropped) and str with mojibake leftovers.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="replace")
    text = str(value)
    # control (Cc), format (Cf), surrogates (Cs), unassigned (Cn) and private use (Co) become
    # spaces; whitespace controls (tab, newline) are folded by the whitespace rule below
    text = "".join(
        " " if unicodedata.category(ch)[0] == "C" else ch for ch in text if ch != "\ufffd"
    )
    return _SPACES.sub(" ", text).strip()


def available_sources(item: VideoItem) -> list[str]:
    """Every source this item could offer: the description, then the workflow-filled texts."""
    return [DESCRIPTION, *[k for k in (item.texts or {}) if k != DESCRIPTION]]


def _source_text(item: VideoItem, source: str) -> str:
    if source == DESCRIPTION:
        return clean_text(item.description)
    return clean_text((item.texts or {}).get(source))


def gather_text(item: VideoItem, sources: list[str] | str, joiner: str = " ") -> tuple[str, dict]:
    """Concatenate the requested sources' text, in order; report which sources were present.

    Returns ``(text, present)`` with ``present[source]`` True when that source had non-empty
    text. ``["all"]`` means every available source of this item. Raises ExtractionError (stage
    "text") when the result is empty.
    """
    if isinstance(sources, str):
        sources = [sources]
    sources = list(sources) or [DESCRIPTION]
    names: list[str] = []
    for s in sources:
        for name in available_sources(item) if s == ALL else [s]:
            if name not in names:
                names.append(name)
    parts, present = [], {}
    for name in names:
        t = _source_text(item, name)
        present[name] = bool(t)
        if t:
            parts.append(t)
    text = joiner.join(parts).strip()
    if not text:
        raise ExtractionError(
            f"no text from sources {sources} (checked {names}) for video {item.video_id}",
            stage="absent",  # a coverage gap (jobs.ABSENT), not a failure
        )
    return text, present


def coverage_attrs(present: dict[str, bool]) -> dict[str, bool]:
    """``has_<source>`` attributes, so the store's meta table shows each source's coverage."""
    return {f"has_{_attr_name(k)}": bool(v) for k, v in present.items()}


def _attr_name(source: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", source)
