"""The extractors' config section checked by what each extractor class declares.

An entry's ``kind`` must be registered (or a plug-in ``package.module:Class`` that imports), its
``modality`` must agree with the class's (or be given where the class declares none), its
params must pass the class's ``PARAMS`` (:meth:`Extractor.check_params`), and a text extractor's
``sources`` must be known text sources; a ``text_sources`` entry must name a configured
extractor whose class stores a text output (``"text"`` in its ``POOLINGS``). A plug-in
extractor is checked by the same declarations, so it needs nothing here. The plan's check
(trimodal.stages.config_check) composes these with the other families' checks; the wording is
:mod:`trimodal.plumbing.config_problems`.
"""

from __future__ import annotations

from trimodal.extractors.base import REGISTRY, Extractor, extractor_target, get_extractor_class
from trimodal.extractors.text_sources import ALL, DESCRIPTION
from trimodal.plumbing.config_problems import allowed, as_dict, as_list, did_you_mean, key_path

#: text source names every text extractor knows besides config["text_sources"]
BUILTIN_TEXT_SOURCES = (DESCRIPTION, ALL)


def extractor_class(name: str, kind) -> tuple[type[Extractor] | None, list[str]]:
    """The class of extractor `name`'s `kind` and its problems: an unknown kind, a plug-in that
    cannot be loaded (no class then), or nothing to say where the schema rejected the kind."""
    extractor_target("frame_embedding")  # fills REGISTRY with the built-in kinds
    if not isinstance(kind, str):
        return None, []  # the schema said so
    path = key_path("extractors", name, "kind")
    if kind not in REGISTRY and ":" not in kind:
        return None, [
            f"{path}: unknown extractor kind {kind!r}{did_you_mean(kind, REGISTRY)}; known: "
            f"{allowed(sorted(REGISTRY))}, or a plug-in 'package.module:Class'"
        ]
    try:
        return get_extractor_class(kind), []
    except (ImportError, AttributeError) as e:
        return None, [f"{path}: cannot load {kind!r}: {e}"]


def modality_problems(name: str, spec: dict, cls: type[Extractor]) -> list[str]:
    """The configured modality against the one the class declares."""
    modality = spec.get("modality")
    if isinstance(modality, str) and cls.modality and modality != cls.modality:
        return [
            f"{key_path('extractors', name, 'modality')}: {modality!r}, but kind "
            f"{spec['kind']!r} extracts {cls.modality}; leave it out (or use {cls.modality})"
        ]
    if modality is None and not cls.modality:
        return [
            f"{key_path('extractors', name)}: kind {spec['kind']!r} declares no modality; "
            "add modality: video, audio or text"
        ]
    return []


def params_problems(name: str, params: dict, cls: type[Extractor]) -> list[str]:
    """Each unknown or invalid param by the class's ``PARAMS``, with a did-you-mean for a
    misspelled name or choice."""
    out = []
    for key, problem in cls.check_params(params):
        declared = cls.PARAMS.get(key)
        if declared is None:
            hint = did_you_mean(key, cls.PARAMS)
        elif declared.choices and isinstance(params[key], str):
            hint = did_you_mean(params[key], declared.choices)
        else:
            hint = ""
        out.append(f"{key_path('extractors', name, 'params', key)}: {problem}{hint}")
    return out


def sources_problems(name: str, sources, text_sources: dict) -> list[str]:
    """Each text source in a text extractor's `sources` param that is neither built in nor a
    key of the config's `text_sources`."""
    known = [*BUILTIN_TEXT_SOURCES, *text_sources]
    items = [(None, sources)] if isinstance(sources, str) else enumerate(as_list(sources))
    out = []
    for i, s in items:
        if isinstance(s, str) and s not in known:
            path = key_path("extractors", name, "params", "sources", *([] if i is None else [i]))
            out.append(
                f"{path}: unknown text source {s!r}{did_you_mean(s, known)}; known: "
                f"{allowed(known)} (add others under text_sources)"
            )
    return out


def extractor_problems(
    name: str, spec: dict, text_sources: dict
) -> tuple[type[Extractor] | None, list[str]]:
    """Extractor `name`'s class (None where its kind is unknown or cannot be loaded) and the
    problems of its entry `spec`: kind, modality, params, text sources (`text_sources`: the
    config's section). Its model is checked by the caller (it depends on the environment)."""
    cls, problems = extractor_class(name, spec.get("kind"))
    if cls is None:
        return None, problems
    params = as_dict(spec.get("params"))
    problems = modality_problems(name, spec, cls) + params_problems(name, params, cls)
    if "sources" in cls.PARAMS:
        problems += sources_problems(name, params.get("sources"), text_sources)
    return cls, problems


def text_source_problems(
    text_sources: dict, extractors: dict, classes: dict[str, type[Extractor]]
) -> list[str]:
    """Each ``text_sources`` entry: not a built-in name, and naming a configured extractor
    (`extractors`) whose class (`classes`: name -> class, for the known kinds) has a text
    output."""
    out = []
    for source, producer in text_sources.items():
        path = key_path("text_sources", source)
        if source in BUILTIN_TEXT_SOURCES:
            out.append(f"{path}: {source!r} is a built-in text source; choose another name")
        if not isinstance(producer, str):
            continue
        if producer not in extractors:
            out.append(
                f"{path}: {producer!r} is not a configured extractor"
                f"{did_you_mean(producer, extractors)}; configured: {allowed(list(extractors))}"
            )
        elif producer in classes and "text" not in classes[producer].POOLINGS:
            with_text = [n for n, c in classes.items() if "text" in c.POOLINGS]
            out.append(
                f"{path}: extractor {producer!r} (kind {classes[producer].name}) has "
                f"no text output; extractors with text: {allowed(with_text)}"
            )
    return out
