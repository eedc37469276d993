"""Import a QuerYD download folder as a trimodal sample sheet, with assembled AD tracks.

``python -m trimodal.corpus.queryd QUERYD_DIR OUT_DIR [--labels TSV] [--segments [DIR]]
[--sr 16000] [--drop-missing]`` reads what the QuerYD downloader leaves on disk (file names as
in the release; each is looked for in QUERYD_DIR and one folder level below it):

- ``relevant-video-links-v2.txt`` (else ``relevant-video-links.txt``): one YouTube URL a line;
- ``videos/video-<ytid>[.<ext>]``: the downloads (any container; ``.part``/``.ytdl`` leftovers
  count as failed downloads);
- ``describe-api-results/assets-<ytid>.json``, or the same members in ``json_metadata-v2.zip``:
  the YouDescribe record (category, duration, audio descriptions with their clips);
- ``wav-files/video-<ytid>/audio-<file_name>``: one WAV per clip;
- ``{raw,times,confidence}_captions_combined_filtered-v2.pkl``: transcribed descriptions;
- ``relevant-non-en-links.txt``, ``languages.json``: description languages;
- ``{train,val,test}_list.txt`` (``video-<ytid>`` a line): the official split;
- with ``--segments``: QuerYDSegments' ``split_raw_captions_filtered.pkl`` and, in the same
  folder, its own split lists (segment ids).

It writes ``OUT_DIR/videos.tsv`` (columns video_id, video, ad_audio, description, label, group,
language, split, start, end, ad_map), the AD tracks ``OUT_DIR/ad/video-<ytid>.wav`` with their
time maps ``.map.json`` (trimodal.corpus.ad_track), and ``OUT_DIR/import_report.json``, and
prints a summary. Nothing bad in the inputs is fatal: an unparsable JSON, a clip listed but
absent, a pickle key with no listed video, a record field of the wrong shape (a clip that is not
an object, ``audio_clips`` that is not a list, a missing field)... are all reported
(``problems``: id, what, reason) and the rest is imported.

Rows:

- ``video_id`` = ``video-<ytid>``, QuerYD's own key (split lists, pickles): always a valid
  sheet id (it starts with a letter; YouTube ids are ``[A-Za-z0-9_-]``) and one-to-one with
  the YouTube id; ``group`` = the YouTube id. Segment rows: ``video-<ytid>__<clip id>``.
- ``video``: the downloaded file; for a failed download the path the downloader would have
  written (absent: run with ``missing_media: skip``, or import with ``--drop-missing``).
- ``description``: the video's transcribed descriptions from the captions pickle, in time
  order, else the clips' transcript sentences from the JSON, in time order.
- ``label``: the JSON's ``category`` when present (or the name of its ``category_id``), else
  the ``--labels`` table (``ytid`` or
  ``video-<ytid>``, tab, label), else empty.
- ``language``: from ``languages.json``; ``""`` (unknown) for a video in the non-English list
  that languages.json does not name; else the description's ``language`` from the JSON; else
  ``en`` when a non-English list was given.
- ``split``: from the split lists, empty when unlisted. A segment row: from QuerYDSegments'
  own lists (segment ids) when the release has them, else its video's split; the report's
  ``segment_splits`` says which.
- ``ad_audio``/``ad_map``: the assembled track and its map, empty for a video without clips.
  Of several descriptions of a video, the published one with the most clips is used.
- ``start``/``end``: empty for whole videos; for a segment, its clip's span on the video clock
  (``start_time`` to ``start_time + duration``; for the older ``<ytid>-<n>`` segment ids, the
  n-th description's times in the times pickle).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import pickle
import re
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trimodal.plumbing.atomic import write_json, write_table

log = logging.getLogger(__name__)

SHEET_COLUMNS = [
    "video_id", "video", "ad_audio", "description", "label", "group",
    "language", "split", "start", "end", "ad_map",
]  # fmt: skip
LINKS = ("relevant-video-links-v2.txt", "relevant-video-links.txt")
NON_EN = "relevant-non-en-links.txt"
LANGUAGES = "languages.json"
JSON_DIR = "describe-api-results"
JSON_ZIPS = ("json_metadata-v2.zip", "json_metadata.zip")
PICKLES = {
    "raw": ("raw_captions_combined_filtered-v2.pkl", "raw_captions_combined_filtered.pkl"),
    "times": ("times_captions_combined_filtered-v2.pkl", "times_captions_combined_filtered.pkl"),
    "confidence": (
        "confidence_captions_combined_filtered-v2.pkl",
        "confidence_captions_combined_filtered.pkl",
    ),
}
SEGMENTS_PKL = "split_raw_captions_filtered.pkl"
SPLITS = ("train", "val", "test")
PARTIAL_SUFFIXES = (".part", ".ytdl", ".tmp")
YTID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_URL_RE = re.compile(r"(?:[?&]v=|youtu\.be/|/embed/|/shorts/)([A-Za-z0-9_-]+)")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    problems: list[dict] = field(default_factory=list)
    unusable: list[dict] = field(default_factory=list)
    #: where the segment rows' splits came from (segment imports only)
    segment_splits: str = ""

    def problem(self, ytid: str, what: str, reason: str) -> None:
        self.problems.append({"id": ytid, "what": what, "reason": reason})

    def as_dict(self) -> dict:
        return {
            "counts": dict(sorted(self.counts.items())),
            "unusable": self.unusable,
            "problems": self.problems,
        }


def video_id_of(ytid: str) -> str:
    return f"video-{ytid}"


def ytid_from_line(line: str) -> str | None:
    """The YouTube id of a links-file line (a URL, ``video-<ytid>`` or a bare id)."""
    s = line.strip()
    m = _URL_RE.search(s)
    if m:
        return m.group(1)
    s = s.removeprefix("video-")
    return s if YTID_RE.match(s) else None


def _find(root: Path, names: tuple[str, ...] | str, kind: str = "file") -> Path | None:
    """The first of `names` in root or one folder below it (sorted, deterministic)."""
    names = (names,) if isinstance(names, str) else names
    dirs = [root, *sorted(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []
    for name in names:
        for d in dirs:
            p = d / name
            if p.is_file() if kind == "file" else p.is_dir():
                return p
    return None


def _read_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]


def read_links(path: Path, rep: Report) -> list[str]:
    ids: list[str] = []
    seen: set[str] = set()
    for n, line in enumerate(_read_lines(path), start=1):
        if not line:
            continue
        ytid = ytid_from_line(line)
        if ytid is None:
            rep.unusable.append({"id": line, "reason": f"{path.name} line {n}: not a YouTube URL"})
            continue
        if ytid in seen:
            rep.problem(ytid, "links", f"listed twice ({path.name} line {n})")
            continue
        seen.add(ytid)
        ids.append(ytid)
    return ids


def read_languages(root: Path, rep: Report) -> tuple[dict[str, str], set[str] | None]:
    """ytid -> language code from languages.json, and the non-English ids (None: no list)."""
    langs: dict[str, str] = {}
    p = _find(root, LANGUAGES)
    if p:
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            for code, ids in dict(data.get("languages", data)).items():
                for ytid in str(ids).replace(";", ",").split(","):
                    if ytid.strip():
                        langs[ytid.strip()] = str(code).strip()
        except (ValueError, TypeError, AttributeError) as e:
            rep.problem("", LANGUAGES, f"cannot be read: {e}")
    q = _find(root, NON_EN)
    non_en = None
    if q:
        non_en = {y for y in map(ytid_from_line, _read_lines(q)) if y}
    return langs, non_en


class JsonSource:
    """assets-<ytid>.json from the describe-api-results folder or from the zip."""

    def __init__(self, root: Path, rep: Report):
        self.dir = _find(root, JSON_DIR, kind="dir")
        self.zip = None
        self.members: dict[str, str] = {}
        z = _find(root, JSON_ZIPS)
        if z:
            try:
                self.zip = zipfile.ZipFile(z)
                for name in self.zip.namelist():
                    base = name.rsplit("/", 1)[-1]
                    if base.startswith("assets-") and base.endswith(".json"):
                        self.members[base[len("assets-") : -len(".json")]] = name
            except (zipfile.BadZipFile, OSError) as e:
                rep.problem("", z.name, f"not a readable zip: {e}")
                self.zip = None
        self.files: dict[str, Path] = {}
        if self.dir:
            for p in self.dir.glob("assets-*.json"):
                self.files[p.name[len("assets-") : -len(".json")]] = p

    def ids(self) -> set[str]:
        return set(self.files) | set(self.members)

    def read(self, ytid: str) -> tuple[dict | None, str]:
        """(record, "") or (None, reason); reason "" with None when there is no JSON."""
        try:
            if ytid in self.files:
                raw = self.files[ytid].read_bytes()
            elif ytid in self.members:
                raw = self.zip.read(self.members[ytid])
            else:
                return None, ""
            data = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            return None, f"JSON does not parse: {e}"
        if not isinstance(data, dict):
            return None, "JSON is not an object"
        result = data.get("result", data if "audio_descriptions" in data else None)
        if not isinstance(result, dict):
            return None, f"no result (code {data.get('code')!r}, {data.get('message', '')!r})"
        return result, ""


def read_pickle(path: Path | None, rep: Report) -> dict:
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)  # noqa: S301 (the user's own download)
    except Exception as e:  # pickle raises many kinds; report and go on
        rep.problem("", path.name, f"cannot be unpickled: {type(e).__name__}: {e}")
        return {}
    if not isinstance(data, dict):
        rep.problem("", path.name, f"not a dict ({type(data).__name__})")
        return {}
    return data


def _key_ytid(key) -> str:
    return str(key).removeprefix("video-")


def read_split_lists(folder: Path | None) -> dict[str, str]:
    """entry (without a ``video-`` prefix) -> split name."""
    out: dict[str, str] = {}
    if folder is None:
        return out
    for name in SPLITS:
        p = folder / f"{name}_list.txt"
        if p.is_file():
            for line in _read_lines(p):
                if line:
                    out[line.removeprefix("video-")] = name
    return out


def read_labels(path: Path | None, rep: Report) -> dict[str, str]:
    out: dict[str, str] = {}
    if path is None:
        return out
    with open(path, encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or not row[0].strip():
                continue
            if len(row) < 2:
                rep.problem(row[0], path.name, f"line {n}: no label column")
                continue
            ytid = ytid_from_line(row[0])
            if ytid is None:
                if n > 1:
                    rep.problem(row[0], path.name, f"line {n}: not a YouTube id")
                continue  # a header line
            out[ytid] = row[1].strip()
    return out


def find_video(videos: Path | None, ytid: str, listing: dict[str, list[Path]]) -> tuple:
    """(path, status): status "ok", "partial" (only a .part file) or "missing"."""
    files = listing.get(ytid, [])
    done = [p for p in files if not p.name.endswith(PARTIAL_SUFFIXES) and p.stat().st_size > 0]
    if done:
        return sorted(done, key=lambda p: (p.suffix != ".mp4", p.name))[0], "ok"
    base = (videos or Path("videos")) / f"video-{ytid}"
    return base, ("partial" if files else "missing")


def _video_listing(videos: Path | None) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    if videos is None:
        return out
    for p in videos.iterdir():
        if p.is_file() and p.name.startswith("video-"):
            stem = p.name[len("video-") :]
            for suf in PARTIAL_SUFFIXES:
                stem = stem.removesuffix(suf)
            ytid = stem.split(".", 1)[0]
            out.setdefault(ytid, []).append(p)
    return out


def choose_description(result: dict, rep: Report | None = None, ytid: str = "") -> dict | None:
    """The audio description to use: published before others, then the most clips. A field of
    the wrong shape (not a list, not an object) is reported and counts as absent."""
    ads = result.get("audio_descriptions")
    if ads is None:
        return None
    if not isinstance(ads, list):
        _shape(rep, ytid, "audio_descriptions", "is not a list", ads)
        return None
    bad = [a for a in ads if not isinstance(a, dict)]
    for a in bad:
        _shape(rep, ytid, "audio description", "is not an object", a)
    ads = [a for a in ads if isinstance(a, dict)]
    if not ads:
        return None
    return max(
        enumerate(ads),
        key=lambda ia: (
            str(ia[1].get("status", "published")) == "published",
            len(ia[1].get("audio_clips") or [])
            if isinstance(ia[1].get("audio_clips"), list)
            else 0,
            -ia[0],
        ),
    )[1]


def _shape(rep: Report | None, ytid: str, what: str, how: str, value) -> None:
    """Report a record field of the wrong shape (the record's other fields are still used)."""
    if rep is not None:
        rep.problem(ytid, "json", f"{what} {how}: {value!r}"[:200])
        rep.counts["json_bad_fields"] += 1


def clip_records(ad: dict | None, rep: Report | None = None, ytid: str = "") -> list[dict]:
    """The clips of an audio description that are objects; the others (a string, a number, a
    list) are reported, as is an ``audio_clips`` that is not a list, and left out."""
    clips = (ad or {}).get("audio_clips")
    if clips is None:
        return []
    if not isinstance(clips, list):
        _shape(rep, ytid, "audio_clips", "is not a list", clips)
        return []
    good = []
    for c in clips:
        if isinstance(c, dict):
            good.append(c)
        else:
            _shape(rep, ytid, "clip", "is not an object", c)
    return good


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def caption_text(tokens) -> str:
    if isinstance(tokens, str):
        return _clean(tokens)
    return _clean(" ".join(str(t) for t in tokens))


def pickle_description(ytid: str, raw: dict, times: dict, rep: Report | None = None) -> str:
    """The video's transcribed descriptions in time order ("" when none, or not a list)."""
    caps = raw.get(f"video-{ytid}", raw.get(ytid))
    if not caps:
        return ""
    if not isinstance(caps, list):
        _shape(rep, ytid, "captions pickle entry", "is not a list", caps)
        return ""
    ts = times.get(f"video-{ytid}", times.get(ytid)) or []
    ts = ts if isinstance(ts, list) else []
    starts = [(_num(t[0]) if isinstance(t, (list, tuple)) and t else None) for t in ts]
    starts += [None] * (len(caps) - len(starts))
    order = sorted(range(len(caps)), key=lambda i: (starts[i] is None, starts[i] or 0.0, i))
    return " ".join(t for t in (caption_text(caps[i]) for i in order) if t)


def json_description(ad: dict | None, rep: Report | None = None, ytid: str = "") -> str:
    """The clips' transcript sentences in time order; a clip, transcript or sentence of the
    wrong shape is reported and skipped."""
    if not ad:
        return ""
    parts = []
    for c in clip_records(ad, None, ytid):  # the clips' own shapes are reported once, by the row
        cs = _num(c.get("start_time")) or 0.0
        transcript = c.get("transcript")
        if transcript is None:
            continue
        if not isinstance(transcript, list):
            _shape(rep, ytid, "transcript", "is not a list", transcript)
            continue
        for sent in transcript:
            if not isinstance(sent, dict):
                _shape(rep, ytid, "transcript sentence", "is not an object", sent)
            elif sent.get("sentence"):
                parts.append((cs, _num(sent.get("start_time")) or 0.0, _clean(sent["sentence"])))
    return " ".join(p[2] for p in sorted(parts, key=lambda p: p[:2]))


#: YouTube's video category ids (videoCategories), for a record with an id but no name
YOUTUBE_CATEGORIES = {
    1: "Film & Animation", 2: "Autos & Vehicles", 10: "Music", 15: "Pets & Animals",
    17: "Sports", 18: "Short Movies", 19: "Travel & Events", 20: "Gaming", 21: "Videoblogging",
    22: "People & Blogs", 23: "Comedy", 24: "Entertainment", 25: "News & Politics",
    26: "Howto & Style", 27: "Education", 28: "Science & Technology",
    29: "Nonprofits & Activism",
}  # fmt: skip


def _label_of(result: dict | None) -> str:
    """The category name of a YouDescribe video record, else the name of its category id."""
    if not result:
        return ""
    cat = result.get("category")
    if isinstance(cat, dict):
        cat = cat.get("title") or cat.get("name")
    if cat:
        return _clean(cat)
    cid = _num(result.get("category_id"))
    return YOUTUBE_CATEGORIES.get(int(cid), "") if cid is not None else ""


def assemble(
    ytid: str,
    ad: dict,
    wav_dir: Path | None,
    out_dir: Path,
    sr: int,
    duration: float | None,
    rep: Report,
) -> tuple[str, str, dict]:
    """Build the AD track of one video; ("", "", {}) when no clip could be used."""
    from trimodal.corpus.ad_track import Clip, build_track, clip_length

    clips = []
    folder = wav_dir / f"video-{ytid}" if wav_dir else None
    for c in clip_records(ad, None, ytid):
        name = str(c.get("file_name") or "")
        start = _num(c.get("start_time"))
        if not name or start is None:
            rep.problem(ytid, "clip", f"clip without file_name or start_time: {name or c!r}"[:200])
            rep.counts["clips_unusable"] += 1
            continue
        path = folder / f"audio-{name}" if folder else None
        if path is None or not path.is_file():
            rep.problem(
                ytid, "clip", f"clip listed but absent: wav-files/video-{ytid}/audio-{name}"
            )
            rep.counts["clips_missing"] += 1
            continue
        try:
            clip_length(path)
        except Exception as e:  # soundfile raises its own errors for a bad header
            rep.problem(ytid, "clip", f"clip unreadable: audio-{name}: {e}")
            rep.counts["clips_unusable"] += 1
            continue
        extended = str(c.get("playback_type", "inline")).lower() == "extended"
        clips.append(Clip(path.resolve(), start, extended, label=name))
    rep.counts["clips_used"] += len(clips)
    if not clips:
        return "", "", {}
    wav = (out_dir / "ad" / f"video-{ytid}.wav").resolve()
    info = build_track(clips, wav, wav.with_suffix(".map.json"), sr=sr, min_length=duration)
    rep.counts["ad_tracks_reused" if info.get("reused") else "ad_tracks_built"] += 1
    return str(wav), str(wav.with_suffix(".map.json")), info


def _duration(result: dict | None, video: Path, ok: bool) -> float | None:
    d = _num(result.get("duration")) if result else None
    if d:
        return d
    if ok:
        from trimodal.media.probe import probe

        return _num(probe(video).get("duration"))
    return None


def segment_rows(seg_path: Path, by_ytid: dict[str, dict], times: dict, rep: Report) -> list[dict]:
    """One row per QuerYDSegments caption, with its clip's span and its video's columns."""
    data = read_pickle(seg_path, rep)
    splits = read_split_lists(seg_path.parent)
    # the segment lists when the release has them, else each segment takes its video's split
    rep.segment_splits = (
        f"segment lists ({seg_path.parent.name}/{{train,val,test}}_list.txt)"
        if splits
        else "the video's split (no segment lists in the release)"
    )
    ytids = sorted(by_ytid, key=len, reverse=True)  # longest first: ids may contain '-'
    rows, seen = [], set()
    for key in sorted(data, key=str):
        sid = str(key).removeprefix("video-")
        ytid = next((y for y in ytids if sid.startswith(f"{y}-")), None)
        if ytid is None:
            rep.problem(sid, SEGMENTS_PKL, "segment of a video that is not listed or imported")
            rep.counts["segments_unusable"] += 1
            continue
        base = by_ytid[ytid]
        rest = sid[len(ytid) + 1 :]
        span = None
        if rest.isdigit():
            ts = times.get(f"video-{ytid}", times.get(ytid)) or []
            ts = ts if isinstance(ts, list) else []
            n = int(rest)
            if n < len(ts) and isinstance(ts[n], (list, tuple)) and len(ts[n]) == 2:
                span = (_num(ts[n][0]), _num(ts[n][1]))
            clip_id = rest
        else:
            clip_id = rest.removeprefix(f"{ytid}_")
            for c in base["_clips"]:
                stem = str(c.get("file_name") or "").rsplit(".", 1)[0]
                if stem in (rest, clip_id):
                    s, d = _num(c.get("start_time")), _num(c.get("duration"))
                    e = _num(c.get("end_time"))
                    span = (s, s + d if d else e) if s is not None else None
                    break
        if not span or span[0] is None or span[1] is None or not span[1] > span[0]:
            rep.problem(sid, SEGMENTS_PKL, "no time span for this segment (clip not in the JSON)")
            rep.counts["segments_unusable"] += 1
            continue
        duration = base.get("_duration")
        if duration and span[1] > duration:
            if span[0] >= duration:
                rep.problem(sid, SEGMENTS_PKL, f"span {span} starts after the video ({duration} s)")
                rep.counts["segments_unusable"] += 1
                continue
            rep.problem(sid, SEGMENTS_PKL, f"span end {span[1]} cut to the video's {duration} s")
            span = (span[0], duration)
        vid = f"{video_id_of(ytid)}__{_SAFE.sub('_', clip_id)}"
        if vid in seen:
            rep.problem(sid, SEGMENTS_PKL, f"segment id {vid} would be used twice")
            rep.counts["segments_unusable"] += 1
            continue
        seen.add(vid)
        caps = data[key]
        if not isinstance(caps, list):
            _shape(rep, sid, "segment caption", "is not a list", caps)
        text = " ".join(caption_text(c) for c in caps) if isinstance(caps, list) else ""
        if caps and isinstance(caps, list) and all(isinstance(t, str) for t in caps):
            text = caption_text(caps)  # one caption as a token list
        row = {k: v for k, v in base.items() if not k.startswith("_")}
        row.update(
            video_id=vid,
            description=text,
            split=splits.get(sid, splits.get(f"video-{sid}", "")) if splits else base["split"],
            start=f"{span[0]:.3f}",
            end=f"{span[1]:.3f}",
        )
        rows.append(row)
        rep.counts["segments"] += 1
        rep.counts[f"segments_split_{row['split'] or 'none'}"] += 1
    return rows


@dataclass
class Release:
    """What the download folder holds, read once (:func:`read_release`)."""

    root: Path
    ids: list[str]
    json_src: JsonSource
    langs: dict[str, str]
    non_en: set[str] | None
    videos: Path | None
    wav_dir: Path | None
    listing: dict[str, list[Path]]
    pickles: dict[str, dict]
    seg_pkl: Path | None
    splits: dict[str, str]
    user_labels: dict[str, str]


def find_segments_pickle(root: Path, segments: bool | str | os.PathLike, rep: Report):
    """The QuerYDSegments pickle asked for by ``--segments [DIR]`` (None: not asked, absent)."""
    if not segments:
        return None
    given = not isinstance(segments, bool)
    seg_pkl = Path(segments) / SEGMENTS_PKL if given else _find(root, SEGMENTS_PKL)
    if seg_pkl is None or not seg_pkl.is_file():
        rep.problem("", SEGMENTS_PKL, "--segments given but the segments pickle is absent")
        return None
    return seg_pkl


def video_split_dir(root: Path) -> Path | None:
    """The first folder holding the videos' split lists that is not QuerYDSegments' (its lists
    have the same names but hold segment ids)."""
    return next(
        (
            d
            for d in [root, *sorted(p for p in root.iterdir() if p.is_dir())]
            if (d / "test_list.txt").is_file() and not (d / SEGMENTS_PKL).is_file()
        ),
        None,
    )


def read_release(root: Path, labels, segments, rep: Report) -> Release:
    """Step 1: every file of the release the import reads (each absence or bad file reported)."""
    links = _find(root, LINKS)
    json_src = JsonSource(root, rep)
    if links is None:
        rep.problem("", "links", f"no {' or '.join(LINKS)}: using the ids of the JSON files")
        ids = sorted(json_src.ids())
    else:
        ids = read_links(links, rep)
    rep.counts["listed"] = len(ids)
    langs, non_en = read_languages(root, rep)
    videos = _find(root, "videos", kind="dir")
    return Release(
        root=root,
        ids=ids,
        json_src=json_src,
        langs=langs,
        non_en=non_en,
        videos=videos,
        wav_dir=_find(root, "wav-files", kind="dir"),
        listing=_video_listing(videos),
        pickles={k: read_pickle(_find(root, names), rep) for k, names in PICKLES.items()},
        seg_pkl=find_segments_pickle(root, segments, rep),
        splits=read_split_lists(video_split_dir(root)),
        user_labels=read_labels(Path(labels) if labels else None, rep),
    )


def check_cross_references(rel: Release, rep: Report) -> None:
    """Step 2: what the pickles, split lists, downloads and JSON files name that is not listed."""
    listed = set(rel.ids)
    for name, d in rel.pickles.items():
        for key in d:
            if _key_ytid(key) not in listed:
                rep.problem(_key_ytid(key), PICKLES[name][0], "pickle key with no listed video")
                rep.counts[f"{name}_keys_unlisted"] += 1
    for key in rel.splits:
        if key not in listed:
            rep.problem(key, "split lists", "split entry with no listed video")
    for ytid in sorted(set(rel.listing) - listed):
        rep.problem(ytid, "videos", "downloaded file of a video that is not listed")
    for ytid in sorted(rel.json_src.ids() - listed):
        rep.problem(ytid, JSON_DIR, "JSON of a video that is not listed")


def video_language(ytid: str, rel: Release, ad: dict | None) -> str:
    """languages.json, else "" for a non-English-listed video, else the AD's own language, else
    "en" when a non-English list exists (unknown otherwise)."""
    lang = rel.langs.get(ytid)
    if lang is not None:
        return lang
    if rel.non_en is not None and ytid in rel.non_en:
        return ""
    if ad and ad.get("language"):
        return str(ad["language"]).strip()
    return "en" if rel.non_en is not None else ""


def video_row(
    ytid: str, rel: Release, out: Path, sr: int, build_ad: bool, drop_missing: bool, rep: Report
) -> dict | None:
    """Step 3, one listed video: its sheet row (with its clips and duration for the segment
    rows), or None when it is unusable (reported)."""
    c = rep.counts
    video, status = find_video(rel.videos, ytid, rel.listing)
    c[f"video_{status}"] += 1
    if status != "ok":
        how = "partial download only" if status == "partial" else "no downloaded file"
        rep.problem(ytid, "video", f"{how} (failed download): {video.name}")
    result, why = rel.json_src.read(ytid)
    if result is not None:
        c["with_json"] += 1
    elif why:
        c["json_unreadable"] += 1
        rep.problem(ytid, "json", why)
    else:
        c["without_json"] += 1
        rep.problem(ytid, "json", "no JSON")
    ad = choose_description(result, rep, ytid) if result else None
    ads = (result or {}).get("audio_descriptions")
    if isinstance(ads, list) and len(ads) > 1:
        c["several_descriptions"] += 1
    clips = clip_records(ad, rep, ytid)
    c["clips_listed"] += len(clips)
    if clips:
        c["with_clips"] += 1
    elif result is not None:
        rep.problem(ytid, "json", "no audio clips in the JSON")
    description = pickle_description(ytid, rel.pickles["raw"], rel.pickles["times"], rep)
    if description:
        c["description_from_pickle"] += 1
    else:
        description = json_description(ad, rep, ytid)
        c["description_from_json" if description else "description_none"] += 1
    label = _label_of(result)
    if label:
        c["label_from_json"] += 1
    elif rel.user_labels.get(ytid):
        label = rel.user_labels[ytid]
        c["label_from_table"] += 1
    if label:
        c["labelled"] += 1
    lang = video_language(ytid, rel, ad)
    c[f"language_{lang or 'unknown'}"] += 1
    split = rel.splits.get(ytid, "")
    c[f"split_{split or 'none'}"] += 1
    ad_audio = ad_map = ""
    duration = _duration(result, video, status == "ok") if clips or rel.seg_pkl else None
    if clips and build_ad:
        try:
            ad_audio, ad_map, _ = assemble(ytid, ad, rel.wav_dir, out, sr, duration, rep)
        except Exception as e:  # one bad track must not stop the corpus
            rep.problem(ytid, "ad_track", f"{type(e).__name__}: {e}")
            c["ad_tracks_failed"] += 1
    if ad_audio:
        c["with_ad_track"] += 1
    if status != "ok" and not description and not ad_audio:
        rep.unusable.append({"id": ytid, "reason": "no video file, no description, no AD track"})
        return None
    if status != "ok" and drop_missing:
        rep.unusable.append({"id": ytid, "reason": "no video file (--drop-missing)"})
        return None
    return {
        "video_id": video_id_of(ytid),
        "video": str(video.resolve()) if status == "ok" else str(video.absolute()),
        "ad_audio": ad_audio,
        "description": description,
        "label": label,
        "group": ytid,
        "language": lang,
        "split": split,
        "start": "",
        "end": "",
        "ad_map": ad_map,
        "_clips": clips,
        "_duration": duration,
    }


def video_rows(
    rel: Release, out: Path, sr: int, build_ad: bool, drop_missing: bool, rep: Report
) -> list[dict]:
    """Step 3: the rows of every listed video. A record that breaks the row in a way no guard
    foresaw is reported (what "record") and the import goes on."""
    rows = []
    for ytid in rel.ids:
        try:
            row = video_row(ytid, rel, out, sr, build_ad, drop_missing, rep)
        except Exception as e:  # nothing in the download stops the import
            rep.problem(ytid, "record", f"cannot be imported: {type(e).__name__}: {e}"[:300])
            rep.unusable.append({"id": ytid, "reason": f"record cannot be read: {e}"[:200]})
            continue
        if row is not None:
            rows.append(row)
    return rows


def write_import(rows: list[dict], rel: Release, out: Path, rep: Report) -> tuple:
    """Step 5: the sheet and the report."""
    df = pd.DataFrame([{k: r[k] for k in SHEET_COLUMNS} for r in rows], columns=SHEET_COLUMNS)
    rep.counts["rows"] = len(df)
    rep.counts["rows_missing_video"] = int(sum(1 for r in rows if not Path(r["video"]).is_file()))
    out.mkdir(parents=True, exist_ok=True)
    write_table(out / "videos.tsv", df, sep="\t", index=False, lineterminator="\n")
    report = {
        "source": str(rel.root.resolve()),
        "mode": "segments" if rel.seg_pkl is not None else "videos",
        **({"segment_splits": rep.segment_splits} if rep.segment_splits else {}),
        **rep.as_dict(),
    }
    write_json(out / "import_report.json", report, indent=1)
    return df, report


def import_queryd(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    labels: str | os.PathLike | None = None,
    segments: bool | str | os.PathLike = False,
    sr: int = 16000,
    drop_missing: bool = False,
    build_ad: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Read the download folder `root`, write the sheet, AD tracks and report under `out_dir`:
    read the release, check what it names against the links, a row per video, the segment
    rows (with ``--segments``), then the sheet and the report."""
    root, out = Path(root), Path(out_dir)
    rep = Report()
    if not root.is_dir():
        raise FileNotFoundError(f"QuerYD folder {root} does not exist")
    rel = read_release(root, labels, segments, rep)
    check_cross_references(rel, rep)
    rows = video_rows(rel, out, sr, build_ad, drop_missing, rep)
    if rel.seg_pkl is not None:  # step 4
        rows = segment_rows(rel.seg_pkl, {r["group"]: r for r in rows}, rel.pickles["times"], rep)
    return write_import(rows, rel, out, rep)


def summary(report: dict) -> str:
    c = report["counts"]
    splits = ", ".join(f"{s} {c.get(f'split_{s}', 0)}" for s in (*SPLITS, "none"))
    lines = [
        f"listed {c.get('listed', 0)}, downloaded {c.get('video_ok', 0)} "
        f"(failed {c.get('video_missing', 0) + c.get('video_partial', 0)}), "
        f"with JSON {c.get('with_json', 0)} (unreadable {c.get('json_unreadable', 0)}), "
        f"with clips {c.get('with_clips', 0)}, AD tracks {c.get('with_ad_track', 0)}, "
        f"labelled {c.get('labelled', 0)}",
        f"split: {splits}",
        f"rows written: {c.get('rows', 0)} ({c.get('rows_missing_video', 0)} without a video "
        f"file: use missing_media: skip), unusable ids: {len(report['unusable'])}, "
        f"problems: {len(report['problems'])}",
    ]
    if report.get("mode") == "segments":
        lines.insert(
            2,
            f"segments: {c.get('segments', 0)} (unusable {c.get('segments_unusable', 0)}), "
            f"splits from {report.get('segment_splits', '?')}: "
            + ", ".join(f"{s} {c.get(f'segments_split_{s}', 0)}" for s in (*SPLITS, "none")),
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m trimodal.corpus.queryd",
        description="Import a QuerYD download folder as a sample sheet (see the module doc).",
    )
    ap.add_argument("queryd_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--labels", help="TSV: ytid <tab> label, for videos whose JSON has none")
    ap.add_argument(
        "--segments", nargs="?", const=True, default=False, metavar="DIR",
        help="one row per QuerYDSegments segment (DIR: the folder of its pickle and lists)",
    )  # fmt: skip
    ap.add_argument("--sr", type=int, default=16000, help="sample rate of the AD tracks")
    ap.add_argument(
        "--drop-missing", action="store_true", help="leave rows without a video file out"
    )
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    try:
        _, report = import_queryd(
            a.queryd_dir, a.out_dir, a.labels, a.segments, a.sr, a.drop_missing
        )
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(report))
    print(f"sheet: {Path(a.out_dir) / 'videos.tsv'}  report: "
          f"{Path(a.out_dir) / 'import_report.json'}  ({time.perf_counter() - t0:.1f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
