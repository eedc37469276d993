"""Time of the QuerYD importer on a synthetic download folder of QuerYD's size.

Writes a folder in the release's layout with --n ids (default 2,926, as
relevant-video-links-v2.txt): the links file, 71 non-English ids with languages.json, one
YouDescribe JSON per id (--clips clips each, with transcripts; as a folder, or with --zip as
json_metadata-v2.zip), the three caption pickles, the official split lists (1,796 / 384 / 386
ids) and a one-byte placeholder per downloaded video (10 % of ids fail to download). No WAV clip
is written, so no audio is decoded and no AD track built: every clip is reported absent, which
is the importer's worst case for the report. Then times ``import_queryd`` (best of --repeat).

    python bench/bench_queryd_import.py [--n 2926] [--clips 12] [--zip] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import shutil
import string
import tempfile
import time
import zipfile
from pathlib import Path

from trimodal.corpus.queryd import import_queryd

ALPHABET = string.ascii_letters + string.digits + "-_"


def make_folder(root: Path, n: int, clips: int, as_zip: bool, seed: int = 0) -> None:
    rng = random.Random(seed)
    ids = sorted({"".join(rng.choice(ALPHABET) for _ in range(11)) for _ in range(n + 50)})[:n]
    rng.shuffle(ids)
    (root / "videos").mkdir(parents=True)
    for y in ids:
        if rng.random() > 0.1:
            (root / "videos" / f"video-{y}.{rng.choice(['mp4', 'webm', 'mkv'])}").write_bytes(b"x")
    (root / "relevant-video-links-v2.txt").write_text(
        "".join(f"https://www.youtube.com/watch?v={y}\n" for y in ids)
    )
    non_en = ids[:71]
    (root / "relevant-non-en-links.txt").write_text(
        "".join(f"https://www.youtube.com/watch?v={y}\n" for y in non_en)
    )
    (root / "languages.json").write_text(
        json.dumps({"languages": {"fr": ", ".join(non_en[:40]), "ja": ", ".join(non_en[40:])}})
    )
    words = "a man woman dog car walks runs opens the door kitchen street red old".split()
    raw, times, conf, texts = {}, {}, {}, {}
    for y in ids:
        recs, starts = [], sorted(rng.uniform(0, 600) for _ in range(clips))
        for i, s in enumerate(starts):
            sentence = " ".join(rng.choice(words) for _ in range(12))
            ext = rng.random() < 0.3
            recs.append({
                "playback_type": "extended" if ext else "inline", "start_time": s,
                "end_time": s if ext else s + 4.0, "duration": 4.0,
                "file_name": f"{y}_{i:024x}.wav", "file_path": f"x/{y}", "label": sentence,
                "transcript": [{"sentence": sentence, "start_time": 0.0, "end_time": 4.0}],
            })  # fmt: skip
        result = {"youtube_id": y, "title": y, "category": rng.choice(["Music", "Education"]),
                  "duration": 620.0,
                  "audio_descriptions": [{"audio_clips": recs, "language": "en",
                                          "status": "published"}]}  # fmt: skip
        texts[y] = json.dumps({"type": "success", "code": 1000, "result": result}, indent=4)
        raw[f"video-{y}"] = [r["label"].split() for r in recs]
        times[f"video-{y}"] = [[r["start_time"], r["end_time"]] for r in recs]
        conf[f"video-{y}"] = [0.9] * len(recs)
    if as_zip:
        with zipfile.ZipFile(root / "json_metadata-v2.zip", "w", zipfile.ZIP_DEFLATED) as z:
            for y, t in texts.items():
                z.writestr(f"describe-api-results/assets-{y}.json", t)
    else:
        (root / "describe-api-results").mkdir()
        for y, t in texts.items():
            (root / "describe-api-results" / f"assets-{y}.json").write_text(t)
    for name, obj in (("raw", raw), ("times", times), ("confidence", conf)):
        with open(root / f"{name}_captions_combined_filtered-v2.pkl", "wb") as f:
            pickle.dump(obj, f)
    lists = root / "structured-symlinks"
    lists.mkdir()
    for name, part in (("train", ids[:1796]), ("val", ids[1796:2180]), ("test", ids[2180:2566])):
        (lists / f"{name}_list.txt").write_text("".join(f"video-{y}\n" for y in part))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2926)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--zip", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_queryd_"))
    try:
        t0 = time.perf_counter()
        make_folder(tmp / "d", args.n, args.clips, args.zip)
        print(f"wrote the folder in {time.perf_counter() - t0:.1f} s")
        best, report = float("inf"), None
        for _ in range(args.repeat):
            shutil.rmtree(tmp / "o", ignore_errors=True)
            t0 = time.perf_counter()
            df, report = import_queryd(tmp / "d", tmp / "o")
            best = min(best, time.perf_counter() - t0)
        c = report["counts"]
        print(
            f"ids {c['listed']}, JSON {c['with_json']}, clips listed {c['clips_listed']}, "
            f"rows {len(df)}, problems {len(report['problems'])}, "
            f"json {'zip' if args.zip else 'folder'}: best of {args.repeat}: {best:.2f} s"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
