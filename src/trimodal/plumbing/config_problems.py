"""How a configuration problem is worded: the key path, the allowed values, a did-you-mean.

Every family checks its own config section (extractors their params, the classifier spec its
options, fusion kinds and cross-modal methods their sets, label sets their entries) and
returns messages of one shape, "key.path: what is wrong; what is allowed", which the plan's
check (trimodal.stages.config_check) lists together. Only the wording lives here.
"""

from __future__ import annotations

import difflib


def key_path(*parts) -> str:
    """extractors.effnet.params.fps, classify.feature_sets[2]; odd keys are quoted."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif str(p).replace("_", "a").replace("-", "a").isalnum():
            out += f".{p}" if out else str(p)
        else:
            out += f"[{str(p)!r}]"
    return out or "(top level)"


def did_you_mean(word, options) -> str:
    """ " (did you mean 'x'?)" for the closest of `options`, or ""."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def allowed(options) -> str:
    """The allowed values, comma-separated ("(none)" for none)."""
    return ", ".join(str(o) for o in options) if options else "(none)"


def as_dict(x) -> dict:
    """A config section as a mapping (empty where the schema rejected its shape)."""
    return x if isinstance(x, dict) else {}


def as_list(x) -> list:
    """A config list (empty where the schema rejected its shape)."""
    return x if isinstance(x, list) else []
