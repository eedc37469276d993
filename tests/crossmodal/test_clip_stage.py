"""The CLIP stage: distinct frames, CLIP text-frame matching, text-to-image, in the workflow.

distinct_frames is checked against a brute-force farthest-point selection and against the
exhaustive best subset it approximates. The four rules (clip_frames, distinct_frames, clip_match,
text2image) run through the real workflow on a few demo clips with a tiny randomly initialised
CLIP and Stable Diffusion saved to local folders (no such weights exist offline; test names say
random_weights): the numbers are chance-level by construction, so the tests check that they are
computed right (recomputed here from the stores), not that they are good.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.tiny_models import save_tiny_clip, save_tiny_sd, tiny_clip_tokenizer
from tests.workflow_project import (
    at,
    make_project,
    perturbed,
    planned_jobs,
    small_sheet,
    snakemake,
)
from trimodal.crossmodal.clip.distinct_frames import (
    distinct_frames_file,
    farthest_point_selection,
    select_distinct,
)
from trimodal.extractors.base import Features
from trimodal.stages.clip import check_config, nearest_rows
from trimodal.store import features as store

# --------------------------------------------------------------------------- farthest points


def brute_force_fps(X: np.ndarray, k: int) -> list[int]:
    """Farthest-point selection written the slow, obvious way (euclidean, lowest index on ties)."""
    n = len(X)
    dist = lambda i, j: float(np.sqrt(((X[i] - X[j]) ** 2).sum()))  # noqa: E731
    best, pair = -1.0, None
    for i in range(n):
        for j in range(i + 1, n):
            if dist(i, j) > best:
                best, pair = dist(i, j), [i, j]
    picks = pair
    while len(picks) < min(k, n):
        scores = {c: min(dist(c, p) for p in picks) for c in range(n) if c not in picks}
        top = max(scores.values())
        picks.append(min(c for c, s in scores.items() if s == top))
    return picks[: min(k, n)]


@pytest.mark.parametrize("n,d,k", [(40, 5, 6), (25, 16, 25), (30, 3, 1), (12, 2, 40)])
def test_farthest_point_selection_matches_brute_force(n, d, k):
    rng = np.random.default_rng(n + d + k)
    X = rng.normal(size=(n, d))
    order, dist = farthest_point_selection(X, k, metric="euclidean")
    assert order.tolist() == brute_force_fps(X, k)
    # each pick's distance is its distance to the nearest earlier pick (pair: to each other)
    for m in range(2, len(order)):
        gaps = np.linalg.norm(X[order[:m]] - X[order[m]], axis=1)
        assert dist[m] == pytest.approx(gaps.min())
    assert np.all(np.diff(dist[1:]) <= 1e-12)  # non-increasing after the pair


def test_cosine_metric_is_farthest_points_of_unit_vectors():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 8)) * rng.uniform(0.1, 10, size=(30, 1))  # norms vary a lot
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert farthest_point_selection(X, 7)[0].tolist() == brute_force_fps(unit, 7)
    assert farthest_point_selection(X, 7, metric="euclidean")[0].tolist() != brute_force_fps(
        unit, 7
    )


def _min_gap(D: np.ndarray, subset) -> float:
    return min(D[i, j] for i, j in itertools.combinations(subset, 2))


def test_farthest_points_are_within_half_of_the_best_subset():
    """The 2-approximation of max-min dispersion, checked against every 4-subset of 11 points."""
    rng = np.random.default_rng(3)
    for _ in range(5):
        X = rng.normal(size=(11, 3))
        D = np.linalg.norm(X[:, None] - X[None], axis=2)
        best = max(_min_gap(D, s) for s in itertools.combinations(range(11), 4))
        got = _min_gap(D, farthest_point_selection(X, 4, metric="euclidean")[0])
        assert best / 2 - 1e-12 <= got <= best + 1e-12


def test_identical_frames_still_give_distinct_picks():
    X = np.ones((6, 4))
    order, dist = farthest_point_selection(X, 4)
    assert len(set(order.tolist())) == 4 and np.allclose(dist, 0)


def test_select_distinct_keeps_time_order_and_frame_numbers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6)).astype(np.float32)
    t = np.arange(20) * 0.5
    times = np.stack([t, t + 0.5], axis=1)
    source = {"windows": X, "times": times, "tables": {}}
    f = select_distinct(source, k=5, fps=25.0)
    table = f.tables["frames"]
    order, _ = farthest_point_selection(X, 5)
    assert table["window"].tolist() == sorted(order.tolist())
    assert table["time"].is_monotonic_increasing
    # rank says in which order each was picked
    assert [int(table.set_index("rank").loc[r, "window"]) for r in range(5)] == order.tolist()
    # the frame shown at time t: the last one that starts at or before t
    assert table["frame_index"].tolist() == [int(np.floor(x * 25)) for x in table["time"]]
    assert f.attrs["frame_index_source"] == "estimated_from_fps"
    np.testing.assert_array_equal(f.windows, X[table["window"]])
    # decoded frame numbers win over the estimate
    source["tables"] = {"frames": pd.DataFrame({"index": np.arange(20) * 7, "time": t})}
    g = select_distinct(source, k=5, fps=25.0)
    assert g.tables["frames"]["frame_index"].tolist() == [7 * w for w in table["window"]]
    assert g.attrs["frame_index_source"] == "decoded"


def test_distinct_frames_of_a_failed_source_is_an_error_record(tmp_path):
    src = tmp_path / "src.h5"
    store.write_video_file(src, "v1", {"extractor": "effnet"}, error=("decode", "no frame"))
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps({"video_id": "v1", "video": {"ok": False}}))
    out = tmp_path / "out.h5"
    spec = {"source": "effnet", "k": 4}
    assert not distinct_frames_file(
        video_id="v1", source_file=str(src), probe_json=str(probe), output=str(out),
        name="effnet_distinct", spec=spec,
    )  # fmt: skip
    attrs = store.read_video_file(out)["attrs"]
    assert not attrs["ok"] and attrs["stage"] == "source" and "decode: no frame" in attrs["reason"]
    # a source file with frames gives the selection
    t = np.arange(9, dtype=float)
    feats = Features(windows=np.eye(9), times=np.stack([t, t + 1], 1))
    store.write_video_file(src, "v1", {"extractor": "effnet"}, features=feats)
    assert distinct_frames_file(
        video_id="v1", source_file=str(src), probe_json=str(probe), output=str(out),
        name="effnet_distinct", spec=spec,
    )  # fmt: skip
    got = store.read_video_file(out)
    assert len(got["windows"]) == 4 and got["attrs"]["meta_n_source_frames"] == 9


def test_nearest_rows():
    times = np.array([0.0, 1.0, 2.0, 3.0])
    assert nearest_rows(times, np.array([0.1, 2.6, 2.9])).tolist() == [0, 3]
    assert nearest_rows(np.array([5.0]), np.array([0.0, 9.0])).tolist() == [0]


def test_check_config_names_every_problem():
    extractors = {
        "effnet": {"kind": "frame_embedding", "modality": "video"},
        "yamnet": {"kind": "yamnet", "modality": "audio"},
    }
    problems = check_config(
        {
            "frames": "effnet",
            "distinct": "nope",
            "distinct_frames": {"effnet": {"source": "yamnet"}, "d2": {"source": "missing"}},
            "clip_match": None,
            "text2image": {},
        },
        extractors,
    )
    text = "\n".join(problems)
    for part in (
        "distinct_frames.effnet: the name is already an extractor's",
        "distinct_frames.effnet.source: 'yamnet' is not a video extractor",
        "distinct_frames.d2.source: 'missing' is not a configured extractor",
        "clip_stage.frames: 'effnet' is not of kind clip_frames",
        "clip_stage.distinct: 'nope'",
        "text2image.model",
    ):
        assert part in text, text
    assert check_config({"distinct_frames": {"d": {"source": "effnet"}}}, extractors) == []
    assert check_config({}, extractors) == []


# --------------------------------------------------------------------------- text2image cache


class _CountingPipe:
    """Stands in for a diffusers pipeline: a constant image per call, and a call counter."""

    def __init__(self):
        self.calls = 0

    def __call__(self, prompt, num_images_per_prompt=1, generator=None, **kw):
        self.calls += 1
        value = float(generator.initial_seed() % 97) / 97
        images = np.full((num_images_per_prompt, 4, 4, 3), value)

        class Out:
            pass

        Out.images = images
        return Out


def test_generated_images_are_cached_and_seeded_per_video(tmp_path):
    from trimodal.crossmodal.clip.text2image import generate_images

    pipe = _CountingPipe()
    prompts = {"a": "a cat", "b": "a dog"}
    first = generate_images(prompts, pipe, n_images=2, cache_dir=tmp_path, model_id="m")
    assert pipe.calls == 2 and len(list(tmp_path.glob("*.png"))) == 4
    again = generate_images(prompts, pipe, n_images=2, cache_dir=tmp_path, model_id="m")
    assert pipe.calls == 2  # read back, not drawn again
    np.testing.assert_array_equal(first["b"][1], again["b"][1])
    # a video's seed does not depend on the others: "b" alone gets the same image
    alone = generate_images({"b": "a dog"}, _CountingPipe(), n_images=2)
    np.testing.assert_array_equal(alone["b"][0], first["b"][0])
    # another prompt is another image
    generate_images({"a": "a bird"}, pipe, n_images=2, cache_dir=tmp_path, model_id="m")
    assert pipe.calls == 3


# --------------------------------------------------------------------------- the workflow

LONG = (
    "A bird sits on a branch. The camera zooms in slowly on its feathers. Leaves move in "
    "the wind behind it. A second bird lands on the same branch. Both birds look at the "
    "camera. The light changes as a cloud passes over the garden."
)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_models")
    tok = tiny_clip_tokenizer(d / "tokenizer")
    return {
        "clip": save_tiny_clip(d / "clip_random_weights", tok),
        "sd": save_tiny_sd(d / "sd_random_weights", tok),
    }


def clip_project(workdir, models, stage_edit=None):
    sheet = small_sheet(per_label=1, extra_ids=("bad_truncated",))
    sheet.loc[sheet["label"] == "animals", "description"] = LONG
    extractors = {
        "clip_tiny": {
            "kind": "clip_frames",
            "modality": "video",
            "model": str(models["clip"]),
            "params": {"fps": 1.0, "max_frames": 5, "batch_size": 8},
            # one job loads the model once for every video; distinct frames then read
            # their source's per-video files inside its batch folder
            "batch": 8,
        }
    }
    wd = make_project(workdir, sheet, extractors=extractors, feature_sets=("clip_tiny:mean",))
    cfg_path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["device"] = "cpu"
    cfg["clip_stage"] = {
        "frames": "clip_tiny",
        "distinct": "clip_tiny_distinct",
        "distinct_frames": {"clip_tiny_distinct": {"source": "clip_tiny", "k": 3}},
        "summarize": {"abstractive": None, "max_tokens": 77},
        "clip_match": {"frame_agg": ["mean", "max"]},
        "text2image": {
            "model": str(models["sd"]),
            "steps": 2,
            "guidance": 2.0,
            "height": 16,
            "width": 16,
            "grid": 2,
        },
    }
    if stage_edit:
        stage_edit(cfg["clip_stage"])
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return wd


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory, tiny_models):
    wd = clip_project(tmp_path_factory.mktemp("clip_project"), tiny_models)
    plan = planned_jobs(wd)
    snakemake(wd, "results/report/crossmodal/clip.md")
    return wd, plan


@pytest.mark.slow
def test_default_target_plans_the_clip_stage_random_weights(clip_run):
    _, plan = clip_run
    assert plan["extract_clip_tiny"] == 1  # one batch
    assert plan["distinct_clip_tiny_distinct"] == 5  # every video, the bad one included
    for rule in ("distinct_store_clip_tiny_distinct", "clip_summaries", "clip_match",
                 "text2image", "clip_report"):  # fmt: skip
        assert plan[rule] == 1, plan


@pytest.mark.slow
def test_clip_frames_and_distinct_frames_stores_random_weights(clip_run):
    wd, _ = clip_run
    clip_store = wd / "results/features/clip_tiny.h5"
    distinct_store = wd / "results/features/clip_tiny_distinct.h5"
    ids = store.load_pooled(clip_store)[1]
    assert len(ids) == 4 and "bad_truncated" not in ids
    frames = store.load_table(clip_store, "frames")
    chosen = store.load_table(distinct_store, "frames")
    for vid in ids:
        E, times = store.load_windows(clip_store, vid)
        assert E.shape[1] == 8 and np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)
        assert len(E) == 4  # 4 s clips at 1 fps
        numbers = frames.loc[frames["video_id"] == vid, "index"].to_numpy()
        assert np.all(np.diff(numbers) > 0)
        D, dtimes = store.load_windows(distinct_store, vid)
        mine = chosen[chosen["video_id"] == vid]
        assert sorted(mine["window"]) == sorted(brute_force_fps(E.astype(np.float64), 3))
        np.testing.assert_allclose(D, E[mine["window"].to_numpy()])
        np.testing.assert_allclose(dtimes, times[mine["window"].to_numpy()])
        assert mine["frame_index"].tolist() == numbers[mine["window"].to_numpy()].tolist()
    failures = store.load_failures(distinct_store)
    assert failures["video_id"].tolist() == ["bad_truncated"]
    assert failures["stage"].tolist() == ["source"]
    assert failures["reason"].iloc[0].startswith("clip_tiny: ")


@pytest.mark.slow
def test_summaries_fit_clip_context_random_weights(clip_run, tiny_models):
    from trimodal.crossmodal.clip.summarize import n_tokens, split_sentences
    from trimodal.stages.clip import load_clip_tokenizer

    wd, _ = clip_run
    s = pd.read_csv(wd / "results/clip/summaries.tsv", sep="\t", keep_default_na=False)
    assert len(s) == 4  # the bad row has no description
    tok = load_clip_tokenizer(str(tiny_models["clip"]))
    for r in s.itertuples():
        assert r.n_tokens == n_tokens(r.summary, tok) <= 77
    long = s[s["n_tokens_description"] > 77]
    assert len(long) == 1 and long["method"].iloc[0] == "extractive"
    kept = split_sentences(long["summary"].iloc[0])
    assert kept and set(kept) < set(split_sentences(LONG))  # whole sentences of the original
    assert (s.loc[s["n_tokens_description"] <= 77, "method"] == "as_is").all()


@pytest.mark.slow
def test_clip_match_numbers_recomputed_from_the_stores_random_weights(clip_run, tiny_models):
    from trimodal.crossmodal.retrieval import metrics_from_similarity
    from trimodal.extractors.clip_model import load_clip, text_embeddings

    wd, _ = clip_run
    per = pd.read_csv(wd / "results/clip/clip_match_videos.tsv", sep="\t", keep_default_na=False)
    metrics = pd.read_csv(wd / "results/clip/clip_match.tsv", sep="\t")
    ids = per["video_id"].tolist()
    assert len(ids) == 4
    model, processor = load_clip(str(tiny_models["clip"]))
    T = text_embeddings(per["summary"].tolist(), model, processor).numpy().astype(np.float64)
    clip_store = wd / "results/features/clip_tiny.h5"
    distinct_table = store.load_table(wd / "results/features/clip_tiny_distinct.h5", "frames")
    S = np.zeros((4, 4))
    for j, vid in enumerate(ids):
        E, _ = store.load_windows(clip_store, vid)
        E = E[distinct_table.loc[distinct_table["video_id"] == vid, "window"].to_numpy()]
        m = E.astype(np.float64).mean(axis=0)
        S[:, j] = T @ (m / np.linalg.norm(m))
    np.testing.assert_allclose(per["sim_own_mean"], np.diag(S), atol=1e-5)
    for direction, M in (("text→video", S), ("video→text", S.T)):
        row = metrics[(metrics["direction"] == direction) & (metrics["frame_agg"] == "mean")]
        expected = metrics_from_similarity(M)
        for key in ("R@1", "R@5", "median_rank", "chance_R@1", "chance_median_rank"):
            assert row[key].iloc[0] == pytest.approx(expected[key]), (direction, key)
    assert set(metrics["frame_agg"]) == {"mean", "max"}
    assert (metrics["chance_R@1"] == 0.25).all() and (metrics["n"] == 4).all()
    # the best-matching frame of its own video is what the max aggregation scores
    np.testing.assert_allclose(per["best_frame_sim"], per["sim_own_max"], atol=1e-6)


@pytest.mark.slow
def test_text2image_scores_and_images_random_weights(clip_run):
    from PIL import Image

    wd, _ = clip_run
    per = pd.read_csv(wd / "results/clip/text2image_videos.tsv", sep="\t", keep_default_na=False)
    metrics = pd.read_csv(wd / "results/clip/text2image.tsv", sep="\t")
    assert len(per) == 4
    # one 16x16 image per video, beside the tables
    for name in per["images"]:
        img = Image.open(wd / "results/clip/text2image/images" / name)
        assert img.size == (16, 16)
    # drawn once into the reuse cache (local state, not an output): a rerun redraws nothing
    assert len(list((wd / "results/cache/text2image").glob("*.png"))) == 4
    # the per-video verdicts agree with the similarities and the ranks with the metrics
    assert (per["closer_than_every_other"] == (per["sim_own"] > per["sim_others_max"])).all()
    assert (per["closer_than_every_other"] == (per["rank"] == 1)).all()
    m = metrics.iloc[0]
    assert m["R@1"] == pytest.approx((per["rank"] == 1).mean())
    assert m["median_rank"] == pytest.approx(per["rank"].median())
    assert m["chance_R@1"] == pytest.approx(0.25)
    assert m["sim_matched"] == pytest.approx(per["sim_own"].mean())
    grid = Image.open(wd / "results/report/crossmodal/text2image_grid.png")
    assert grid.size[0] > 100 and grid.size[1] > 100


@pytest.mark.slow
def test_report_shows_the_clip_tables_random_weights(clip_run):
    wd, _ = clip_run
    md = (wd / "results/report/crossmodal/clip.md").read_text()
    assert "## CLIP text ↔ video matching" in md and "## Text to image" in md
    assert md.count("| text→video |") == 2 and md.count("| video→text |") == 2
    assert "| image→video |" in md and "text2image_grid.png" in md
    metrics = pd.read_csv(wd / "results/clip/clip_match.tsv", sep="\t")
    r = metrics.iloc[0]
    assert f"{r['R@1']:.2f} ({r['chance_R@1']:.2f})" in md
    assert "of which 1 longer than CLIP's context were summarised" in md
    assert "extractive: 1" in md
    csv = pd.read_csv(wd / "results/report/crossmodal/clip.csv")
    assert set(csv["stage"]) == {"clip_match", "text2image"} and len(csv) == 5
    # nothing left to do for the stage after the run
    assert planned_jobs(wd, "results/report/crossmodal/clip.md") == {}


@pytest.mark.slow
def test_bad_clip_stage_config_stops_before_any_job_random_weights(tmp_path, tiny_models):
    def break_it(stage):
        stage["frames"] = "nope"
        stage["distinct_frames"]["clip_tiny_distinct"]["source"] = "missing"

    wd = clip_project(tmp_path, tiny_models, break_it)
    proc = snakemake(wd, "--dry-run", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "clip_stage.frames: 'nope' is not a configured extractor" in out
    assert "clip_tiny_distinct.source: 'missing' is not a configured extractor" in out
    assert "Traceback" not in out


# --------------------------------------------------------------------------- every key does something


def _second_clip_extractor(cfg):
    spec = dict(
        cfg["extractors"]["clip_tiny"], params={"fps": 1.0, "max_frames": 4, "batch_size": 8}
    )
    cfg["extractors"]["clip_tiny2"] = spec


def _source_is_the_second_extractor(cfg):
    _second_clip_extractor(cfg)
    cfg["clip_stage"]["distinct_frames"]["clip_tiny_distinct"]["source"] = "clip_tiny2"


def _frames_from_the_second_extractor(cfg):
    _second_clip_extractor(cfg)
    cfg["clip_stage"]["frames"] = "clip_tiny2"


def _another_distinct_set(cfg):
    cfg["clip_stage"]["distinct_frames"]["other"] = {"source": "clip_tiny", "k": 2}
    cfg["clip_stage"]["distinct"] = "other"


#: clip_stage key -> a change of the CLIP project's config that must plan work (given the tiny
#: models), or None for a block whose keys are checked one by one (tests/workflow/test_config_keys.py
#: walks the schema and finds each key here)
CLIP_STAGE_PLANS = {
    "clip_match": None,
    "clip_match.frame_agg": lambda m: at("clip_stage", "clip_match", "frame_agg", value=["max"]),
    "distinct": lambda m: _another_distinct_set,
    "distinct_frames": None,
    "distinct_frames.*.k": lambda m: at(
        "clip_stage", "distinct_frames", "clip_tiny_distinct", "k", value=2
    ),
    "distinct_frames.*.metric": lambda m: at(
        "clip_stage", "distinct_frames", "clip_tiny_distinct", "metric", value="euclidean"
    ),
    "distinct_frames.*.source": lambda m: _source_is_the_second_extractor,
    "frames": lambda m: _frames_from_the_second_extractor,
    "summarize": None,
    "summarize.abstractive": lambda m: at(
        "clip_stage",
        "summarize",
        "abstractive",
        value=str(m["clip"]),  # not a summariser: falls back
    ),
    "summarize.max_tokens": lambda m: at("clip_stage", "summarize", "max_tokens", value=60),
    "summarize.sbert": lambda m: at(
        "clip_stage", "summarize", "sbert", value="sentence-transformers/all-mpnet-base-v2"
    ),
    "text2image": None,
    "text2image.grid": lambda m: at("clip_stage", "text2image", "grid", value=3),
    "text2image.guidance": lambda m: at("clip_stage", "text2image", "guidance", value=3.0),
    "text2image.height": lambda m: at("clip_stage", "text2image", "height", value=32),
    "text2image.model": lambda m: at(
        "clip_stage", "text2image", "model", value=str(m["sd"]) + "/."
    ),
    "text2image.n_images": lambda m: at("clip_stage", "text2image", "n_images", value=2),
    "text2image.seed": lambda m: at("clip_stage", "text2image", "seed", value=1),
    "text2image.steps": lambda m: at("clip_stage", "text2image", "steps", value=3),
    "text2image.width": lambda m: at("clip_stage", "text2image", "width", value=32),
}


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(k for k, v in CLIP_STAGE_PLANS.items() if v))
def test_a_changed_clip_stage_key_plans_work_random_weights(clip_run, tiny_models, key):
    wd, _ = clip_run
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    change = CLIP_STAGE_PLANS[key](tiny_models)
    jobs, _ = perturbed(wd, cfg, change, "results/report/crossmodal/clip.md")
    assert jobs, f"clip_stage.{key}: changing it plans nothing, so nothing reads it"
