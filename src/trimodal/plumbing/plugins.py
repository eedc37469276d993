"""Plug-in modules named in the config (``classify.plugins``, ``fusion.plugins``): importing one
registers what it defines (a classifier, a fusion kind) in the package's registries."""

from __future__ import annotations

import importlib


def load_plugins(modules: list[str] | None) -> None:
    """Import each configured plug-in module (on the Python path); each registers when imported."""
    for module in modules or []:
        importlib.import_module(module)
