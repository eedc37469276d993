"""The results explorer: a static, self-contained page (results/explorer/index.html) that
shows, per video, what every modality saw and predicted; built from the workflow's outputs.

``build`` (the data files and the page; ``build_explorer``), ``thumbs`` (the thumbnail strip
of each video, per batch), ``assets/`` (the page: plain HTML, CSS and JavaScript).
"""

from __future__ import annotations

import hashlib
from importlib import resources


def asset_hash() -> str:
    """16 hex digits over the page's HTML, CSS and JavaScript: a param of the explorer rule,
    so that editing them rebuilds the page (code_hash covers Python modules only)."""
    h = hashlib.sha256()
    folder = resources.files(__name__) / "assets"
    for f in sorted(folder.iterdir(), key=lambda p: p.name):
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]
