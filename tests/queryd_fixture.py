"""A small QuerYD download folder in exactly the release's formats, from real media.

Videos are demo-corpus clips (resources/demo/clips, real pictures and noises; one video is three
clips joined with ffmpeg's concat demuxer, 12 s), the AD clips are espeak-ng speech (22.05 kHz
WAV, so the importer resamples them). Layout and records as in QUERYD.md: links file,
non-English list, languages.json, describe-api-results/assets-<ytid>.json (or the same in
json_metadata-v2.zip), wav-files/video-<ytid>/audio-<file_name>, the three caption pickles,
split lists, and querydsegments/ with split_raw_captions_filtered.pkl and its own lists.

Cases (ytid: what it exercises):

- ``FULLvideo01``: 12 s video, inline clips at 1.0 and 9.5 s, an extended clip at 4.0 s and an
  inline clip at 5.0 s that the extended one pushes later; category "Pets & Animals"; train.
- ``-dashLead02``: id starting with '-'; one inline clip and one clip whose WAV is absent; val.
- ``failedDL003``: failed download (only a .part file), JSON with a clip, captions; test.
- ``noJSONvid04``: video without JSON; captions in the pickle; label from the user's table; test.
- ``noClips0005``: JSON without clips (no AD track); train.
- ``frenchVid06``: non-English (non-English list, languages.json "fr"); train.
- ``goneAll0007``: failed download, no JSON, no captions: unusable.
- ``badJSON0008``: a JSON that does not parse; video present; val.
- pickle keys ``video-notListed9`` (no video), a segment of an unlisted video.
- ``badClip0010`` (with ``bad_records=True``): a record whose ``audio_clips`` holds a string
  and a number beside one good clip, whose good clip's ``transcript`` is not a list, and
  without a category (an unlabelled video); test.
- ``plain<k>`` (``n_plain`` of them): video, JSON with one inline clip, alternating categories,
  splits cycling train/test/train/train/test/val (both labels in train and in test): enough
  labelled rows for classification.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_CLIPS = ROOT / "resources" / "demo" / "clips"


@dataclass(frozen=True)
class ClipSpec:
    start: float
    sentence: str
    extended: bool = False
    absent: bool = False  # listed in the JSON, WAV not written


FULL = "FULLvideo01"
FULL_CLIPS = [
    ClipSpec(1.0, "A brown dog runs across the garden."),
    ClipSpec(4.0, "The old man slowly opens the red door.", extended=True),
    ClipSpec(5.0, "Two children are laughing in the kitchen."),
    ClipSpec(9.5, "The sun sets over the quiet lake."),
]
DASH = "-dashLead02"
FAILED = "failedDL003"
NOJSON = "noJSONvid04"
NOCLIPS = "noClips0005"
FRENCH = "frenchVid06"
GONE = "goneAll0007"
BADJSON = "badJSON0008"
UNLISTED = "notListed9x"
BADCLIP = "badClip0010"


def demo_clips() -> list[Path]:
    clips = sorted(DEMO_CLIPS.glob("qabcs_*.mp4"))
    if len(clips) < 12:
        import pytest

        pytest.skip("demo corpus not built: run `make corpus`")
    return clips


def espeak(path: Path, sentence: str, voice: str = "en") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), sentence], check=True)
    return path


def concat(videos: list[Path], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{v}'\n" for v in videos))
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
         "-c", "copy", str(out)],
        check=True,
    )  # fmt: skip
    listing.unlink()
    return out


def wav_length(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def _clip_record(ytid: str, i: int, spec: ClipSpec, length: float) -> dict:
    clip_id = f"{0x5F00 + i:024x}"
    name = f"{ytid}_{clip_id}.wav"
    return {
        "_id": clip_id,
        "playback_type": "extended" if spec.extended else "inline",
        "start_time": spec.start,
        "end_time": spec.start if spec.extended else round(spec.start + length, 3),
        "duration": round(length, 3),
        "file_name": name,
        "file_path": f"audio-descriptions-files/{ytid}",
        "label": spec.sentence,
        "transcript": [{"sentence": spec.sentence, "start_time": 0.0, "end_time": length}],
    }


def _record(ytid: str, category: str | None, duration: float, clips: list[dict], lang="en"):
    video = {
        "youtube_id": ytid,
        "title": f"video {ytid}",
        "description": "",
        "tags": [],
        "duration": duration,
        "audio_descriptions": [{"audio_clips": clips, "language": lang, "status": "published"}]
        if clips is not None
        else [],
    }
    if category:
        video["category_id"] = {"Pets & Animals": 15, "Music": 10}.get(category, 22)
        video["category"] = category
    return {"type": "success", "code": 1000, "status": 200, "message": "", "result": video}


def build_queryd(
    root: Path,
    n_plain: int = 0,
    json_zip: bool = False,
    segments: bool = True,
    bad_records: bool = False,
) -> dict:
    """Write the folder; return what a test needs to know (clip times, ids, expectations)."""
    root = Path(root)
    clips = demo_clips()
    videos, wavs, jsons = root / "videos", root / "wav-files", {}
    videos.mkdir(parents=True, exist_ok=True)
    raw, times, conf = {}, {}, {}
    expected: dict = {"clips": {}, "labels": {}, "splits": {}}

    def add_clips(ytid: str, specs: list[ClipSpec], voice: str = "en") -> list[dict]:
        recs = []
        for i, spec in enumerate(specs):
            tmp = root / ".speech" / f"{ytid}_{i}.wav"
            espeak(tmp, spec.sentence, voice)
            rec = _clip_record(ytid, i, spec, wav_length(tmp))
            if not spec.absent:
                dest = wavs / f"video-{ytid}" / f"audio-{rec['file_name']}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp.replace(dest)
            recs.append(rec)
        expected["clips"][ytid] = recs
        return recs

    def add_captions(ytid: str, specs: list[ClipSpec], lengths=None):
        key = f"video-{ytid}"
        raw[key] = [s.sentence.lower().rstrip(".").split() for s in specs]
        times[key] = [[s.start, s.start] if s.extended else [s.start, s.start + 2.0] for s in specs]
        conf[key] = [0.9 for _ in specs]

    # FULL: three demo clips joined (12 s)
    concat(clips[:3], videos / f"video-{FULL}.mp4")
    jsons[FULL] = _record(FULL, "Pets & Animals", 12.0, add_clips(FULL, FULL_CLIPS))
    add_captions(FULL, FULL_CLIPS)
    # DASH: a clip and an absent clip
    (videos / f"video-{DASH}.mp4").write_bytes(clips[3].read_bytes())
    dash = [ClipSpec(0.5, "A bird sings on a branch."), ClipSpec(2.0, "Nobody.", absent=True)]
    jsons[DASH] = _record(DASH, "Music", 4.0, add_clips(DASH, dash))
    add_captions(DASH, dash[:1])
    # FAILED download: a partial file only
    (videos / f"video-{FAILED}.mp4.part").write_bytes(clips[4].read_bytes()[:1000])
    failed = [ClipSpec(1.0, "A car drives down the street.")]
    jsons[FAILED] = _record(FAILED, "Music", 4.0, add_clips(FAILED, failed))
    add_captions(FAILED, failed)
    # NOJSON: captions only
    (videos / f"video-{NOJSON}.webm").write_bytes(clips[5].read_bytes())  # wrong extension ok
    add_captions(NOJSON, [ClipSpec(0.0, "A horse stands in a field.")])
    # NOCLIPS
    (videos / f"video-{NOCLIPS}.mp4").write_bytes(clips[6].read_bytes())
    jsons[NOCLIPS] = _record(NOCLIPS, "Music", 4.0, None)
    # FRENCH
    (videos / f"video-{FRENCH}.mp4").write_bytes(clips[7].read_bytes())
    fr = [ClipSpec(0.5, "Un chat dort sur le canapé.")]
    jsons[FRENCH] = _record(FRENCH, "Pets & Animals", 4.0, add_clips(FRENCH, fr, "fr"), "fr")
    add_captions(FRENCH, fr)
    # BADJSON
    (videos / f"video-{BADJSON}.mp4").write_bytes(clips[8].read_bytes())
    ids = [FULL, DASH, FAILED, NOJSON, NOCLIPS, FRENCH, GONE, BADJSON]
    split = {FULL: "train", DASH: "val", FAILED: "test", NOJSON: "test", NOCLIPS: "train",
             FRENCH: "train", BADJSON: "val"}  # fmt: skip
    if bad_records:  # malformed clip records; no category
        ids.append(BADCLIP)
        (videos / f"video-{BADCLIP}.mp4").write_bytes(clips[4].read_bytes())
        kettle = [ClipSpec(0.5, "A kettle whistles on the stove.")]
        good = add_clips(BADCLIP, kettle)
        add_captions(BADCLIP, kettle)  # its text, as the JSON transcript is unusable
        good[0]["transcript"] = "not a list"
        jsons[BADCLIP] = _record(BADCLIP, None, 4.0, ["not a clip", *good, 42])
        split[BADCLIP] = "test"
    cats = ["Pets & Animals", "Music"]
    for k in range(n_plain):
        ytid = f"plain{k:06d}"
        ids.append(ytid)
        (videos / f"video-{ytid}.mp4").write_bytes(clips[9 + k % (len(clips) - 9)].read_bytes())
        spec = [ClipSpec(0.5, f"Scene number {k + 1} shows a small {['dog', 'drum'][k % 2]}.")]
        jsons[ytid] = _record(ytid, cats[k % 2], 4.0, add_clips(ytid, spec))
        add_captions(ytid, spec)
        split[ytid] = ["train", "test", "train", "train", "test", "val"][k % 6]
    raw[f"video-{UNLISTED}"] = [["no", "video"]]

    (root / "relevant-video-links-v2.txt").write_text(
        "".join(f"https://www.youtube.com/watch?v={y}\n" for y in ids)
    )
    (root / "relevant-non-en-links.txt").write_text(f"https://www.youtube.com/watch?v={FRENCH}\n")
    (root / "languages.json").write_text(json.dumps({"languages": {"fr": FRENCH}}))
    texts = {y: json.dumps(r, indent=4) for y, r in jsons.items()}
    texts[BADJSON] = '{"type": "success", "code": 1000, "result": {"youtube_id": "badJ'
    if json_zip:
        with zipfile.ZipFile(root / "json_metadata-v2.zip", "w") as z:
            for y, t in texts.items():
                z.writestr(f"describe-api-results/assets-{y}.json", t)
    else:
        (root / "describe-api-results").mkdir(exist_ok=True)
        for y, t in texts.items():
            (root / "describe-api-results" / f"assets-{y}.json").write_text(t)
    for name, obj in (("raw", raw), ("times", times), ("confidence", conf)):
        with open(root / f"{name}_captions_combined_filtered-v2.pkl", "wb") as f:
            pickle.dump(obj, f)
    lists = root / "structured-symlinks"
    lists.mkdir(exist_ok=True)
    for s in ("train", "val", "test"):
        (lists / f"{s}_list.txt").write_text(
            "".join(f"video-{y}\n" for y in ids if split.get(y) == s)
        )
    (root / "labels.tsv").write_text(f"ytid\tlabel\n{NOJSON}\tMusic\n")
    expected["labels"] = {FULL: "Pets & Animals", DASH: "Music", FAILED: "Music",
                          NOJSON: "Music", NOCLIPS: "Music", FRENCH: "Pets & Animals",
                          BADJSON: ""}  # fmt: skip
    expected["splits"] = split
    expected["ids"] = ids
    if segments:
        seg_dir = root / "querydsegments"
        seg_dir.mkdir(exist_ok=True)
        seg = {}
        seg_split = {}
        for ytid in [FULL, DASH]:
            for rec in expected["clips"][ytid]:
                stem = rec["file_name"].removesuffix(".wav")
                sid = f"{ytid}-{stem}"
                seg[sid] = [rec["label"].lower().rstrip(".").split()]
                seg_split[sid] = "test" if ytid == DASH else "train"
        seg[f"{FULL}-2"] = [["older", "style", "segment", "id"]]  # times pickle index 2
        seg_split[f"{FULL}-2"] = "val"
        seg[f"{UNLISTED}-{UNLISTED}_0"] = [["unlisted"]]
        with open(seg_dir / "split_raw_captions_filtered.pkl", "wb") as f:
            pickle.dump(seg, f)
        for s in ("train", "val", "test"):
            (seg_dir / f"{s}_list.txt").write_text(
                "".join(f"{k}\n" for k, v in seg_split.items() if v == s)
            )
        expected["segments"] = seg
    return expected
