"""The QuerYD importer and the workflow's plan at QuerYD's size, with tiny media.

Writes a download folder in the release's layout with --n listed videos (default 2,926, as
relevant-video-links-v2.txt): per video a real demo clip (hard links to a handful of files, so
the folder costs no disk) and a YouDescribe JSON with --clips inline/extended clips whose WAVs
are real (hard links to short speech-like noise WAVs), the caption pickles, the non-English list,
languages.json and the official split lists (1,796 / 384 / 386); --failed ids (default 25) have
no download. Then times, in one run:

- ``import_queryd`` (AD tracks assembled for every video with clips);
- ``snakemake --dry-run`` of a project on the imported sheet (missing_media: skip, the split
  protocol, late fusion and cross-modal retrieval with the ``select`` ranking).

    python bench/bench_queryd_plan.py [--n 2926] [--clips 2] [--failed 25] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import resource
import shutil
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workflow_project import (  # noqa: E402
    SMALL_EXTRACTORS,
    job_stats,
    make_project,
    snakemake,
)
from trimodal.corpus.queryd import import_queryd, summary  # noqa: E402

ALPHABET = string.ascii_letters + string.digits + "-_"


def make_release(root: Path, n: int, clips: int, failed: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    ids = sorted({"".join(rng.choice(ALPHABET) for _ in range(11)) for _ in range(n + 50)})[:n]
    rng.shuffle(ids)
    demo = sorted((ROOT / "resources" / "demo" / "clips").glob("*.mp4"))[:8]
    if not demo:
        sys.exit("the demo corpus is not built: run `make corpus`")
    media = root / ".media"
    media.mkdir(parents=True)
    noise = np.random.default_rng(seed)
    wavs = []
    for k in range(4):  # 0.4-1.0 s clips at 22.05 kHz (resampled by the importer, as espeak's)
        w = media / f"clip{k}.wav"
        sf.write(w, 0.1 * noise.normal(size=int(22050 * (0.4 + 0.2 * k))), 22050)
        wavs.append(w)
    (root / "videos").mkdir()
    lost = set(rng.sample(ids, failed))
    for i, y in enumerate(ids):
        if y not in lost:
            os.link(demo[i % len(demo)], root / "videos" / f"video-{y}.mp4")
    (root / "relevant-video-links-v2.txt").write_text(
        "".join(f"https://www.youtube.com/watch?v={y}\n" for y in ids)
    )
    non_en = ids[:71]
    (root / "relevant-non-en-links.txt").write_text(
        "".join(f"https://www.youtube.com/watch?v={y}\n" for y in non_en)
    )
    (root / "languages.json").write_text(json.dumps({"languages": {"fr": ", ".join(non_en)}}))
    words = "a man woman dog car walks runs opens the door kitchen street red old".split()
    raw, times, conf = {}, {}, {}
    (root / "describe-api-results").mkdir()
    for i, y in enumerate(ids):
        recs = []
        for c in range(clips):
            start, ext = 0.5 + 1.5 * c, c % 2 == 1
            sentence = " ".join(rng.choice(words) for _ in range(10))
            name = f"{y}_{c:024x}.wav"
            dest = root / "wav-files" / f"video-{y}" / f"audio-{name}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(wavs[(i + c) % len(wavs)], dest)
            recs.append({
                "playback_type": "extended" if ext else "inline", "start_time": start,
                "end_time": start if ext else start + 1.0, "duration": 1.0, "file_name": name,
                "file_path": f"x/{y}", "label": sentence,
                "transcript": [{"sentence": sentence, "start_time": 0.0, "end_time": 1.0}],
            })  # fmt: skip
        result = {"youtube_id": y, "title": y, "category": ["Music", "Education"][i % 2],
                  "duration": 4.0, "audio_descriptions": [{"audio_clips": recs,
                  "language": "en", "status": "published"}]}  # fmt: skip
        (root / "describe-api-results" / f"assets-{y}.json").write_text(
            json.dumps({"type": "success", "code": 1000, "result": result})
        )
        raw[f"video-{y}"] = [r["label"].split() for r in recs]
        times[f"video-{y}"] = [[r["start_time"], r["end_time"]] for r in recs]
        conf[f"video-{y}"] = [0.9] * len(recs)
    for name, obj in (("raw", raw), ("times", times), ("confidence", conf)):
        with open(root / f"{name}_captions_combined_filtered-v2.pkl", "wb") as f:
            pickle.dump(obj, f)
    lists = root / "structured-symlinks"
    lists.mkdir()
    for name, part in (("train", ids[:1796]), ("val", ids[1796:2180]), ("test", ids[2180:2566])):
        (lists / f"{name}_list.txt").write_text("".join(f"video-{y}\n" for y in part))


def plan_config(wd: Path) -> None:
    path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["missing_media"] = "skip"
    cfg["labels"]["sets"] = {
        "youtube": {"from": "label", "min_count": 2,
                    "language": {"column": "language", "keep": ["en"]}}
    }  # fmt: skip
    cfg["classify"]["cv"] = {"protocol": "split", "seed": 0}
    cfg["fusion"] = {
        "sets": {
            "avt": {
                "feature_sets": ["yamnet:mean", "effnet:mean", "sbert_desc:mean"],
                "classifier": "ovr_linear_svc",
                "kinds": ["late-mean", "late-vote", "late-stack"],
            }
        }
    }
    cfg["crossmodal"] = {
        "protocol": "split", "methods": ["ridge"], "rankings": ["cosine", "select"],
        "pairs": [{"source": "sbert_desc:mean", "target": "effnet:mean"},
                  {"source": "effnet:mean", "target": "sbert_desc:mean"}]}  # fmt: skip
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2926)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--failed", type=int, default=25)
    ap.add_argument("--keep", help="write here and keep it (default: a temporary folder)")
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_qplan_"))
    try:
        t0 = time.perf_counter()
        make_release(tmp / "d", args.n, args.clips, args.failed)
        print(f"wrote the release in {time.perf_counter() - t0:.1f} s")
        t0, c0 = time.perf_counter(), time.process_time()
        df, report = import_queryd(tmp / "d", tmp / "import")
        t_import, c_import = time.perf_counter() - t0, time.process_time() - c0
        print(summary(report))
        print(
            f"import: {t_import:.1f} s wall, {c_import:.1f} s CPU for "
            f"{report['counts']['listed']} listed videos"
        )
        wd = make_project(tmp / "project", df, SMALL_EXTRACTORS)
        plan_config(wd)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = snakemake(wd, "--dry-run", timeout=1800)
        t_plan = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        jobs = job_stats(proc.stdout + proc.stderr)
        print(
            f"dry run: {t_plan:.1f} s wall, {after.ru_utime - before.ru_utime:.1f} s CPU, "
            f"peak {after.ru_maxrss / 1024:.0f} MB, {sum(jobs.values())} jobs "
            f"({', '.join(f'{k} {v}' for k, v in sorted(jobs.items()) if k != 'total')})"
        )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
