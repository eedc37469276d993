"""The contract every extractor follows.

One extractor = one class with a registry name. The workflow builds it once per job from the
rule's `params:` (model spec, parameters, device), calls :meth:`Extractor.extract` on one
:class:`VideoItem`, and writes the returned :class:`Features` (or the error) to one per-video file
with :func:`trimodal.store.features.write_video_file`. An extractor raises :class:`ExtractionError` for a
bad input it recognises (no audio stream, no decodable frame, empty text); the job turns that into
an error record, so one bad video never stops the run.
"""

from __future__ import annotations

import copy
import importlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from trimodal.domain import ExtractionError, Features, VideoItem  # noqa: F401 - the contract's types

_TYPE_NAMES = {float: "a number", int: "an integer", bool: "true or false", str: "a string",
               list: "a list"}  # fmt: skip


@dataclass(frozen=True)
class Param:
    """One declared extractor parameter: its type, default and allowed values.

    Declared once per extractor (``PARAMS``) so the code reads its defaults from the same place
    the workflow validates a configuration against before any job runs. ``float`` accepts
    integers too; ``items`` is the element type of a list; ``choices`` the allowed values;
    ``gt`` / ``ge`` / ``le`` bounds. Null (``~``) always means the default.
    """

    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    choices: tuple | None = None
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    items: type | None = None
    #: a run-time setting that cannot change a result (an inference batch size): like threads,
    #: not part of the rule's params, the store's spec or the reuse key
    runtime: bool = False

    def _types(self) -> tuple[type, ...]:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    def describe(self) -> str:
        """The allowed values in words ("a number > 0", "one of: soundtrack, ad_audio")."""
        if self.choices is not None:
            return "one of: " + ", ".join(map(str, self.choices))
        words = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self._types())
        if self.items is not None:
            words += f" (items: {_TYPE_NAMES.get(self.items, self.items.__name__)})"
        bounds = [f"{op} {v:g}" for op, v in ((">", self.gt), (">=", self.ge), ("<=", self.le))
                  if v is not None]  # fmt: skip
        return " ".join([words, " and ".join(bounds)]).strip()

    def check(self, value: Any) -> str | None:
        """None when `value` is allowed, else what is wrong with it."""
        if value is None:
            return None
        ok_type = False
        for t in self._types():
            if t is float:
                ok_type |= isinstance(value, (int, float)) and not isinstance(value, bool)
            elif t is int:
                ok_type |= isinstance(value, int) and not isinstance(value, bool)
            else:
                ok_type |= isinstance(value, t)
        if not ok_type:
            return f"must be {self.describe()}, got {value!r}"
        if self.items is not None and isinstance(value, list):
            if not all(isinstance(v, self.items) for v in value):
                return f"must be {self.describe()}, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"{value!r} is not {self.describe()}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (
                not math.isfinite(value)
                or (self.gt is not None and not value > self.gt)
                or (self.ge is not None and not value >= self.ge)
                or (self.le is not None and not value <= self.le)
            ):
                return f"must be {self.describe()}, got {value!r}"
        return None


def check_params(declared: dict[str, Param], params: dict) -> list[tuple[str, str]]:
    """(param name, problem) for every unknown or invalid entry of `params`."""
    out = []
    for key, value in params.items():
        if key not in declared:
            out.append((key, f"unknown parameter; known: {', '.join(sorted(declared))}"))
        elif (problem := declared[key].check(value)) is not None:
            out.append((key, problem))
    return out


#: what trimodal.extractors.pooling.pool_all stores for every windowed extractor
POOLED = ("mean", "max", "attn", "mean_max")

# declarations shared by several extractors
MAX_FRAMES = Param(int, None, "at most this many sampled frames (null: no cap)", ge=1)
DECODE_BACKEND = Param(str, "auto", "frame decoder", choices=("auto", "decord", "pyav"))
AUDIO_SOURCE = Param(str, "soundtrack", "audio input", choices=("soundtrack", "ad_audio"))
TEXT_SOURCES = Param(
    (list, str), ["description"], "description, keys of text_sources, or all", items=str
)


@dataclass(frozen=True)
class Reads:
    """What an extractor reads of one video, as its class declares it (:meth:`Extractor.reads`).

    The one place this is decided: the rules' inputs (trimodal.workflow.plan), the stage's
    checks, the reuse key (trimodal.stages.extract) and the config check all ask the class, so
    a plug-in extractor that reads something new says so once.
    """

    video: bool = False  # the video file (its frames or its soundtrack)
    ad_audio: bool = False  # the audio-description track (a segment row: and its ad_map)
    description: bool = False  # the sample sheet's description
    sources: tuple[str, ...] = ()  # texts other extractors produce (keys of text_sources, "all")
    span: bool = False  # a segment row's time span shapes the result

    @property
    def media(self) -> str | None:
        """The media file whose probe the extractor depends on: "video", "ad_audio" or None."""
        return "video" if self.video else "ad_audio" if self.ad_audio else None


def text_sources_of(params: dict) -> list[str]:
    """The `sources` param of a text extractor as a list (default: the description)."""
    sources = params.get("sources") or ["description"]
    return [sources] if isinstance(sources, str) else list(sources)


def default_reads(modality: str, params: dict) -> Reads:
    """What an extractor of `modality` reads by default: a text extractor its `sources`, an
    audio one the track named by `source`, a video one the video; media results depend on a
    segment's span."""
    if modality == "text":
        sources = text_sources_of(params)
        return Reads(
            description=bool({"description", "all"} & set(sources)),
            sources=tuple(s for s in sources if s != "description"),
        )
    if modality == "audio" and (params.get("source") or "soundtrack") == "ad_audio":
        return Reads(ad_audio=True, span=True)
    return Reads(video=True, span=True)


class Extractor(ABC):
    """Base class: subclasses set `name` and `modality` and implement `load` and `extract`.

    ``PARAMS`` declares every parameter (type, range, default: read by :meth:`param`);
    ``POOLINGS`` names the pooled vectors (and ``text`` for a text output) the extractor can
    store, which feature sets ``<extractor>:<pooling>`` may name. :meth:`reads` says what a
    video's job reads, :meth:`uses_gpu` whether its work goes to a GPU when one is chosen.
    """

    name: str = ""
    modality: str = ""  # "video" | "audio" | "text"
    PARAMS: dict[str, Param] = {}
    POOLINGS: tuple[str, ...] = ()
    #: modules the extractor runs as scripts in another interpreter (no import reaches them):
    #: their source is part of its code hash (:func:`code_modules`)
    SCRIPTS: tuple[str, ...] = ()

    def __init__(self, model: str | None = None, params: dict | None = None, device: str = "cpu"):
        self.model_spec = model
        self.params = dict(params or {})
        self.device = device
        self._loaded = False

    def load(self) -> None:  # noqa: B027 - optional hook: extractors without weights skip it
        """Load weights once; called lazily before the first extract."""

    def param(self, key: str) -> Any:
        """params[key], or its declared default when it is absent or null (`~` in YAML)."""
        v = self.params.get(key)
        return copy.copy(self.PARAMS[key].default) if v is None else v

    @classmethod
    def with_defaults(cls, params: dict) -> dict:
        """`params` over the declared defaults (a null value keeps the default)."""
        out = {k: copy.copy(p.default) for k, p in cls.PARAMS.items()}
        out.update({k: v for k, v in params.items() if v is not None})
        return out

    @classmethod
    def runtime_params(cls) -> set[str]:
        """Names of the run-time parameters (``Param(runtime=True)``): the job takes them from
        the configuration, and a change reruns nothing."""
        return {k for k, p in cls.PARAMS.items() if p.runtime}

    @classmethod
    def check_params(cls, params: dict) -> list[tuple[str, str]]:
        """(param name, problem) for each unknown or invalid parameter."""
        return check_params(cls.PARAMS, params)

    @classmethod
    def reads(cls, params: dict) -> Reads:
        """What a job of this extractor reads of each video (its inputs and reuse key); the
        default follows the modality and the `source` / `sources` params. Override in a class
        that reads something else (a video extractor that also reads the AD track)."""
        return default_reads(cls.modality, params)

    @classmethod
    def uses_gpu(cls, model: str | None, params: dict) -> bool:
        """Whether its work goes to a GPU when the configured device picks one (`cuda`, or
        `auto` with a GPU visible): the job then declares the `gpu` resource."""
        return True

    @classmethod
    def hub_repo(cls, model: str) -> str | None:
        """The Hugging Face Hub repository the back-end would download `model` from, or None
        when it does not come from the Hub; used to tell whether it is cached for offline use."""
        return model

    @classmethod
    def backend_versions(cls, model: str | None, params: dict) -> dict[str, str]:
        """Versions of libraries the extractor computes with that its module's imports do not
        name (a back-end in another interpreter): recorded beside the imported ones."""
        return {}

    def ensure_loaded(self) -> None:
        if not self._loaded:
            self.load()
            self._loaded = True

    def model_attrs(self) -> dict[str, Any]:
        """Attributes stored with every output: what model and parameters made it."""
        from trimodal.plumbing.models import describe_model

        return {"model": self.model_spec or "", **describe_model(self.model_spec, self.hub_repo)}

    @abstractmethod
    def extract(self, item: VideoItem) -> Features:
        """Features for one video, or raise ExtractionError for a recognised bad input."""


#: registry name -> "module:Class"; modules are imported lazily so a job imports only its own
#: back-end (TensorFlow and torch must never share a process).
REGISTRY: dict[str, str] = {}


def register(name: str, target: str) -> None:
    REGISTRY[name] = target


def extractor_target(kind: str) -> tuple[str, str]:
    """(module, class name) of a registered kind, without importing the module.

    A kind may also be a plug-in path, "package.module:Class", so a new extractor is one module
    plus one config entry (docs/architecture.md).
    """
    if ":" in kind:
        module, cls = kind.split(":", 1)
        return module, cls
    # the built-in extractors register themselves in trimodal.extractors
    importlib.import_module("trimodal.extractors")
    try:
        module, cls = REGISTRY[kind].split(":")
    except KeyError:
        raise KeyError(f"unknown extractor kind {kind!r}; known: {sorted(REGISTRY)}") from None
    return module, cls


def get_extractor_class(kind: str) -> type[Extractor]:
    module, cls = extractor_target(kind)
    return getattr(importlib.import_module(module), cls)


def extractor_reads(kind: str, modality: str, params: dict) -> Reads:
    """:meth:`Extractor.reads` of `kind`'s class (the modality's default for a kind that
    cannot be imported here)."""
    try:
        return get_extractor_class(kind).reads(params)
    except (KeyError, ImportError, AttributeError):
        return default_reads(modality, params)


def code_modules(kind: str) -> tuple[str, ...]:
    """The entry modules whose closure is an extractor's code (its jobs' code hash): the kind's
    module, the per-video compute and writer, and the scripts the class launches."""
    from trimodal.plumbing.codehash import extract_modules

    return extract_modules(extractor_target(kind)[0], get_extractor_class(kind).SCRIPTS)


def build_extractor(kind: str, model: str | None, params: dict | None, device: str = "cpu"):
    return get_extractor_class(kind)(model=model, params=params, device=device)
