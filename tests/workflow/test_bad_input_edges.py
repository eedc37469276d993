"""The last edges of bad input (issue 32, section 2), one test each where the item is a unit's;
the workflow-level ones are in tests/workflow/test_bad_input_workflow.py."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trimodal.corpus.sheet import MAX_ID_LENGTH, SheetError, load_sheet, normalise_label
from trimodal.labels.label_sets import merge_classes, normalise_spec
from trimodal.media.probe import is_partial, probe
from trimodal.plumbing.atomic import write_text
from trimodal.stages.config_check import check_config
from trimodal.store.reuse import file_identity

ROOT = Path(__file__).resolve().parents[2]
HEADER = "video_id\tvideo\tad_audio\tdescription\tlabel\n"


def sheet(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    """A sheet of (id, label) rows, each on a real (empty) video file."""
    (tmp_path / "a.mp4").write_bytes(b"x")
    p = tmp_path / "videos.tsv"
    p.write_text(HEADER + "".join(f"{i}\ta.mp4\t\ta clip\t{label}\n" for i, label in rows))
    return p


def sheet_error(p: Path) -> str:
    with pytest.raises(SheetError) as info:
        load_sheet(p, base_dir=p.parent)
    return str(info.value)


# ------------------------------------------------------------------ the sample sheet


def test_a_nul_byte_in_a_label_is_a_sheet_error(tmp_path):
    """It passed the check, then every classify job failed in h5py (VLEN strings do not
    support embedded NULs) and the report became STALE.md."""
    msg = sheet_error(sheet(tmp_path, [("v1", "dogs"), ("v2", "ca\x00ts")]))
    assert "row 2 (line 3), column label: contains a NUL byte" in msg


def test_ids_are_bounded_so_every_derived_file_name_fits(tmp_path):
    """A 210-230 character id passed the check, then the probe job died with `File name too
    long` (its temporary name adds a suffix) and the whole probe batch was lost."""
    long_ok, too_long = "a" * MAX_ID_LENGTH, "b" * 220
    msg = sheet_error(sheet(tmp_path, [(long_ok, "x"), (too_long, "y")]))
    assert f"column video_id: id of 220 characters is too long (at most {MAX_ID_LENGTH}" in msg
    assert long_ok not in msg
    # the longest name made from an id (a CLIP image cache entry), written atomically (under
    # its temporary name first) next to the per-video files and the probe's JSON
    for name in (f"{long_ok}-{'0' * 16}-10.png", f"{long_ok}.h5", f"{long_ok}.json"):
        assert write_text(tmp_path / name, "ok").read_text() == "ok"
    assert len(os.listdir(tmp_path)) >= 3


# ------------------------------------------------------------------ labels compared one way


def test_merge_keys_match_labels_whatever_their_unicode_form_or_spaces():
    labels = pd.DataFrame({"video_id": ["v1", "v2", "v3"], "label": ["café", "a|b", "other"]})
    decomposed = "cafe\u0301"
    merged = merge_classes(labels, {decomposed: "x", "a|b ": " y"})
    assert list(merged["label"]) == ["x", "y", "other"]
    spec = normalise_spec(
        {"merge": {decomposed: "x "}, "candidates": {decomposed: "a drink"}, "dominant": " café"}
    )
    assert spec == {"merge": {"café": "x"}, "candidates": {"café": "a drink"}, "dominant": "café"}
    assert normalise_label(decomposed) == "café"


def test_make_label_set_merges_a_decomposed_key(tmp_path):
    from trimodal.stages.labels import make_label_set

    p = sheet(tmp_path, [("v1", "café"), ("v2", "café"), ("v3", "tea"), ("v4", "tea ")])
    out = make_label_set(
        str(p), {"merge": {"cafe\u0301": "coffee", "tea  ": "leaf"}}, str(tmp_path / "l.tsv")
    )
    assert sorted(out["label"]) == ["coffee", "coffee", "leaf", "leaf"]


# ------------------------------------------------------------------ odd files


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "clip.mp4"
    os.mkfifo(path)
    return path


def in_time(fn, *args, limit_s=10.0):
    """fn(*args), failing (not hanging) when it blocks: a FIFO opened for reading waits for
    a writer forever."""
    out = {}

    def call():
        try:
            out["value"] = fn(*args)
        except Exception as e:  # noqa: BLE001 - raised again in the caller's thread
            out["error"] = e

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(limit_s)
    assert not t.is_alive(), f"{fn.__name__} blocked on {args}"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_fingerprint_of_a_fifo_or_a_directory_neither_hangs_nor_raises(fifo, tmp_path):
    assert in_time(file_identity, fifo)["blocks"] == "FIFO"
    (tmp_path / "folder.mp4").mkdir()
    assert file_identity(tmp_path / "folder.mp4")["blocks"] == "directory"


def test_probe_names_what_a_non_regular_file_is(fifo, tmp_path):
    """Once a FIFO or /dev/zero was a "zero-length file" (st_size 0)."""
    assert in_time(probe, fifo)["reason"] == "not a regular file (FIFO)"
    assert probe("/dev/zero")["reason"] == "not a regular file (character device)"
    (tmp_path / "d.mp4").mkdir()
    assert probe(tmp_path / "d.mp4")["reason"] == "not a regular file (directory)"
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert probe(tmp_path / "empty.mp4")["reason"] == "zero-length file"


def test_decoders_and_thumbnails_refuse_a_fifo_without_blocking(fifo, tmp_path):
    """Once the explorer's thumbnail job (which no probe gates) hung on a FIFO for ever."""
    from trimodal.domain import ExtractionError
    from trimodal.media.audio import stream_audio
    from trimodal.media.frames import sample_frames
    from trimodal.report.explorer.thumbs import thumbnail_batch

    for decode in (lambda: sample_frames(fifo, fps=1.0), lambda: list(stream_audio(fifo))):
        with pytest.raises(ExtractionError, match=r"not a regular file \(FIFO\)"):
            in_time(decode)
    out = in_time(thumbnail_batch, [{"video_id": "f", "video": str(fifo)}], tmp_path / "t")
    assert "FIFO" in str(out["f"])


# ------------------------------------------------------------------ config check


def base_config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("value", [0.5, 1.5, -1, "10"])
def test_a_timeout_that_is_not_whole_seconds_is_refused(value):
    """0.5 became the integer resource 0: no limit at all, silently."""
    config = base_config()
    config["video_timeout_s"] = value
    name = next(iter(config["extractors"]))
    config["extractors"][name].setdefault("resources", {})["video_timeout_s"] = value
    problems = check_config(config)
    assert any(p.startswith(f"video_timeout_s: {value!r} is not allowed") for p in problems)
    assert any(
        p.startswith(f"extractors.{name}.resources.video_timeout_s: {value!r}") for p in problems
    )
    assert all("whole seconds >= 1" in p for p in problems if "video_timeout_s" in p)


@pytest.mark.parametrize("value", [0, 1, 60])
def test_whole_second_timeouts_pass(value):
    config = base_config()
    config["video_timeout_s"] = value
    assert [p for p in check_config(config) if "timeout" in p] == []


def test_late_stack_with_a_classifier_variant_is_a_config_error():
    """It passed the dry run, then the fuse job failed with a KeyError."""
    config = base_config()
    config.setdefault("classify", {}).setdefault("options", {})["svc_rebalanced"] = {
        "base": "ovr_linear_svc",
        "rebalance": "oversample",
    }
    sets = config.setdefault("fusion", {}).setdefault("sets", {})
    fs = config["classify"]["feature_sets"][:2]
    sets["stacked"] = {"feature_sets": fs, "kinds": ["late-stack"], "classifier": "svc_rebalanced"}
    sets["mean"] = {"feature_sets": fs, "kinds": ["late-mean"], "classifier": "svc_rebalanced"}
    problems = [p for p in check_config(config) if p.startswith("fusion.sets")]
    assert len(problems) == 1, problems
    assert problems[0].startswith("fusion.sets.stacked.classifier: 'svc_rebalanced' is a")
    assert "late-stack fusion build their classifier by name" in problems[0]


# ------------------------------------------------------------------ partial decodes


def test_partial_means_a_decode_error_or_under_90_percent_per_stream():
    from trimodal.media.frames import partial_attrs

    assert is_partial(19.0, 20.0, errors=1)  # the +faststart file cut by 10 %: error read
    assert not is_partial(19.0, 20.0) and is_partial(3.5, 4.0)
    cut = {"duration": 20.0, "stopped_early": True, "decode_errors": 1}
    attrs = partial_attrs(cut, last_time=18.0, step=1.0)
    assert attrs["partial_decode"] and attrs["duration_decoded"] == 19.0
    whole = {"duration": 4.0, "stopped_early": False, "decode_errors": 0}
    assert not partial_attrs(whole, last_time=3.0, step=1.0)["partial_decode"]


def test_a_soundtrack_shorter_than_the_picture_is_not_partial(tmp_path):
    """A 2.4-s .mkv whose audio ends at 1.67 s (Matroska: no per-stream duration) was
    flagged partial against the container's (the picture's) length."""
    import av

    from trimodal.media.audio import stream_audio

    path = tmp_path / "short_audio.mkv"
    with av.open(str(path), "w") as c:
        v = c.add_stream("mpeg4", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        for i in range(60):  # 2.4 s of picture
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i, np.uint8), format="rgb24")
            c.mux(v.encode(frame))
        c.mux(v.encode())
        samples = np.zeros((1, 1024), np.float32)
        for i in range(int(1.67 * 16000 / 1024)):  # 1.67 s of sound
            af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, i * 1024
            c.mux(a.encode(af))
        c.mux(a.encode())
    stats: dict = {}
    for _ in stream_audio(str(path), stats=stats):
        pass
    assert 1.4 < stats["duration_decoded"] < 1.9
    assert not stats["partial"] and stats["decode_errors"] == 0


# ------------------------------------------------------------------ split protocol, report


def test_intermediate_net_on_a_class_with_only_validation_videos():
    """It crashed with sklearn's `classes should have valid labels that are in y`, and the
    report was replaced by STALE.md."""
    from trimodal.fusion.net import IntermediateFusionClassifier
    from trimodal.learn.classify import run_cv
    from trimodal.learn.cv import label_set_folds

    labels = pd.DataFrame(
        {
            "video_id": [f"v{i:02d}" for i in range(16)],
            "label": ["a"] * 6 + ["b"] * 6 + ["c"] * 4,
            "split": ["train"] * 4 + ["test"] * 2 + ["train"] * 4 + ["test"] * 2 + ["val"] * 4,
        }
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 6)).astype(np.float32)
    y = labels["label"].to_numpy(dtype=object)
    net = IntermediateFusionClassifier(block_slices={"x": (0, 3), "z": (3, 6)}, max_epochs=5)
    result = run_cv(
        X, y, labels["video_id"].to_numpy(), net, folds=label_set_folds(labels, "split")
    )
    assert result.evaluated and len(result.ids) == 4
    assert set(result.classes) == {"a", "b", "c"}


def test_confusion_figure_draws_long_labels_and_emoji_whole(tmp_path):
    from trimodal.learn.results import CVResult
    from trimodal.report.summary import confusion_figure, figure_label

    long = "a very long class name that a spreadsheet allowed, with more words on and on"
    classes = np.array([long, "🎸 guitars", "$5-$10"], dtype=object)
    y = np.array([long, "🎸 guitars", "$5-$10", long], dtype=object)
    result = CVResult(
        feature_set="f", classifier="c", classes=classes, ids=np.array(["1", "2", "3", "4"]),
        y_true=y, y_pred=y, proba=np.full((4, 3), 1 / 3), fold=np.zeros(4, np.int32),
        scores={"balanced_accuracy": np.array([1.0])},
    )  # fmt: skip
    assert figure_label("🎸 guitars") == "[guitar] guitars"
    fig = confusion_figure(result)
    fig.canvas.draw()
    box = fig.bbox
    ticks = [*fig.axes[0].get_xticklabels(), *fig.axes[0].get_yticklabels()]
    assert {t.get_text() for t in ticks} >= {"[guitar] guitars"}
    for t in ticks:  # every class name lies inside the figure
        ext = t.get_window_extent()
        assert ext.x0 >= box.x0 - 1 and ext.x1 <= box.x1 + 1, t.get_text()
        assert ext.y0 >= box.y0 - 1 and ext.y1 <= box.y1 + 1, t.get_text()


def test_report_header_when_nothing_was_evaluated(tmp_path):
    """It said "classes: none" although the label set has classes: nothing was scored."""
    from trimodal.learn.results import CVResult
    from trimodal.report.summary import write_report

    skipped = CVResult.skipped(
        "1 class among the 3 covered videos", feature_set="f:mean", classifier="logreg"
    )
    failures = tmp_path / "failures.tsv"
    failures.write_text("video_id\tstage\twhere\treason\nv3\tsheet\tline 4\tnon-utf8\n")
    write_report([skipped], tmp_path / "report", "youtube", failures=failures)
    text = (tmp_path / "report" / "youtube" / "summary.md").read_text()
    assert "classes: none" not in text
    assert "0 evaluations (1 not evaluated), nothing evaluated (see Not evaluated)" in text
    assert "- v3 (line 4): non-utf8: bytes that were not UTF-8 were replaced" in text


def test_a_clip_cut_by_ten_percent_is_a_partial_video_decode(tmp_path):
    """A 4-s `+faststart` clip cut by 10 %: sampled at 1 fps the frames at 0-3 s all decode,
    so once nothing was flagged for the frame extractors (YAMNet flagged it). Now the decode
    goes on to 90 % of the declared length and meets the cut's decode error."""
    from trimodal.corpus.badinputs import make_truncated_end
    from trimodal.media.frames import partial_attrs, sample_frames

    src = next((ROOT / "resources" / "demo" / "clips").glob("*.mp4"))
    whole = make_truncated_end(src, tmp_path, keep_bytes=10**9, seconds=4.0)
    data = whole.read_bytes()
    for share, partial in ((1.0, False), (0.9, True)):
        cut = tmp_path / f"cut{share}.mp4"
        cut.write_bytes(data[: int(len(data) * share)])
        sampler = sample_frames(str(cut), fps=1.0, backend="pyav")
        frames = list(sampler)
        attrs = partial_attrs(sampler.stats, frames[-1].time, 1.0)
        assert attrs["partial_decode"] is partial, (share, sampler.stats)
        if partial:
            assert attrs["decode_errors"] >= 1 and attrs["duration_decoded"] < 4.0


def test_cuts_and_clip_video_keyframes_flag_a_short_decode(tmp_path):
    """`cuts` and `clip_video` never flagged a short decode; now they store the same
    partial-decode attributes as the frame extractors."""
    from trimodal.corpus.badinputs import make_truncated_end
    from trimodal.domain import VideoItem
    from trimodal.extractors.base import build_extractor
    from trimodal.media.keyframes import select_keyframes
    from trimodal.media.probe import partial_reason

    src = next((ROOT / "resources" / "demo" / "clips").glob("*.mp4"))
    data = make_truncated_end(src, tmp_path, keep_bytes=10**9, seconds=4.0).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.9)])
    cuts = build_extractor("cuts", None, {}, device="cpu")
    attrs = cuts.extract(VideoItem(video_id="v", video=str(cut))).attrs
    assert attrs["partial_decode"] and partial_reason(attrs).endswith("of 4.00 s declared")
    stats: dict = {}
    select_keyframes(str(cut), 8, n_uniform=16, stats=stats, backend="pyav")
    assert stats["partial_attrs"]["partial_decode"]
    whole: dict = {}
    select_keyframes(str(tmp_path / "faststart.mp4"), 8, n_uniform=16, stats=whole)
    assert not whole["partial_attrs"]["partial_decode"]
