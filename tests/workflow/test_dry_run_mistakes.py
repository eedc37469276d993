"""Mistakes that once passed the dry run and failed inside a job (issue 24): each is now named,
with every other problem, in one message before any job."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml

from tests.workflow_project import ROOT, SMALL_EXTRACTORS, make_project, snakemake
from trimodal.corpus.sheet import SheetError, header_columns, load_sheet
from trimodal.stages.config_check import check_config

SHIPPED = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture
def cfg() -> dict:
    return copy.deepcopy(SHIPPED)


def at(problems: list[str], path: str) -> str:
    hits = [p for p in problems if p.startswith(path + ":")]
    assert len(hits) == 1, (path, problems)
    return hits[0]


@pytest.mark.parametrize(
    ("extractor", "typo", "meant"),
    [("yamnet", "packaged:yamnet-int9-onnx", "packaged:yamnet-int8-onnx"),
     ("yolo_person", "packaged:yolov8-persn", "packaged:yolov8-person")],
)  # fmt: skip
def test_misspelled_packaged_model(cfg, extractor, typo, meant):
    cfg["extractors"][extractor]["model"] = typo
    p = at(check_config(cfg), f"extractors.{extractor}.model")
    assert f"{typo!r} is not a packaged model (did you mean {meant!r}?)" in p


def test_packaged_model_whose_package_is_not_installed(cfg, monkeypatch):
    from trimodal.plumbing import models

    monkeypatch.setitem(models.PACKAGE_MODULES, models._yamnet_onnx, ("sead_not_installed",))
    p = at(check_config(cfg), "extractors.yamnet.model")
    assert "needs the package(s) sead_not_installed, which are not installed" in p


def test_classifier_option_of_the_wrong_type_or_name(cfg):
    cfg["classify"]["options"] = {
        "svc_c": {"base": "ovr_linear_svc", "C": "abc"},
        "mlp": {"alpha": -1, "hiden_layer_sizes": [8]},
        "ovr_linear_svc_rebalanced": {"base": "ovr_linear_svc", "rebalance": True},
    }
    problems = check_config(cfg)
    c = at(problems, "classify.options.svc_c.C")
    assert "The 'C' parameter of LinearSVC must be a float" in c and "Got 'abc'" in c
    assert "must be a float in the range [0.0, inf)" in at(problems, "classify.options.mlp.alpha")
    assert "did you mean 'hidden_layer_sizes'" in at(
        problems, "classify.options.mlp.hiden_layer_sizes"
    )
    assert len(problems) == 3, problems


def test_merge_of_a_label_the_sheet_does_not_have(cfg):
    cfg["labels"]["sets"]["youtube"]["merge"] = {"Animal": "nature", "toys": "things"}
    problems = check_config(cfg, sheet_labels={"animals", "toys", "misc", "instrument"})
    p = at(problems, "labels.sets.youtube.merge.Animal")
    assert "no label 'Animal' in the sheet's labels (did you mean 'animals'?)" in p
    assert len(problems) == 1
    # zero-shot sets: merge keys are its candidates
    cfg["labels"]["sets"]["zeroshot"]["merge"] = {"toyz": "things"}
    p = at(check_config(cfg), "labels.sets.zeroshot.merge.toyz")
    assert "zero-shot candidates (did you mean 'toys'?)" in p


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5, 20])
def test_confident_threshold_out_of_range(cfg, threshold):
    cfg["labels"]["sets"]["zeroshot"].update(strategy="confident", threshold=threshold)
    p = at(check_config(cfg), "labels.sets.zeroshot.threshold")
    assert "must be a probability in (0, 1]" in p


def test_confident_threshold_in_range_passes(cfg):
    cfg["labels"]["sets"]["zeroshot"].update(strategy="confident", threshold=0.3)
    assert check_config(cfg) == []


@pytest.mark.parametrize(("header", "meant"), [("Label", "label"), ("descr", "description")])
def test_near_miss_sheet_header(cfg, header, meant):
    columns = ["video_id", "video", "ad_audio", header]
    p = at(check_config(cfg, sheet_columns=columns), "samples")
    assert f"column {header!r} is not one trimodal reads (did you mean {meant!r}?)" in p


def test_utf16_without_bom_is_named(tmp_path):
    text = "video_id\tvideo\tlabel\nv1\ta.mp4\tx\n"
    for encoding, name in (("utf-16-le", "UTF-16LE"), ("utf-16-be", "UTF-16BE")):
        path = tmp_path / f"{encoding}.tsv"
        path.write_bytes(text.encode(encoding))
        with pytest.raises(SheetError, match=f"is {name} text without a byte-order mark"):
            load_sheet(path, check_files=False)
    path.write_bytes(text.encode("utf-16"))  # with its BOM: decoded as before
    assert header_columns(path) == ["video_id", "video", "label"]


def _stopped_before_any_job(wd, proc) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out and 'File "' not in out
    assert not (wd / "results").exists() and not (wd / "logs").exists()
    return out


@pytest.mark.slow
def test_dry_run_names_every_new_mistake_in_one_message(tmp_path):
    sheet = pd.DataFrame(
        {"video_id": ["v1", "v2"], "video": [str(ROOT / "Snakefile")] * 2,
         "descr": ["a", "b"], "label": ["cats", "dogs"]}
    )  # fmt: skip
    extractors = copy.deepcopy(SMALL_EXTRACTORS)
    extractors["yamnet"]["model"] = "packaged:yamnet-int9-onnx"
    wd = make_project(tmp_path, sheet, extractors)
    path = wd / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["classify"]["classifiers"] = ["ovr_linear_svc", "svc_c"]
    config["classify"]["options"] = {"svc_c": {"base": "ovr_linear_svc", "C": "abc"}}
    config["labels"]["sets"]["youtube"]["merge"] = {"cat": "pets"}
    config["labels"]["sets"]["zs"] = {
        "from": "zeroshot", "candidates": ["cats", "dogs"], "strategy": "confident",
        "threshold": 2,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    out = _stopped_before_any_job(wd, snakemake(wd, "--dry-run", check=False))
    assert "the configuration has 5 problem(s)" in out, out
    for fragment in (
        "samples: the sheet's column 'descr' is not one trimodal reads (did you mean "
        "'description'?)",
        "extractors.yamnet.model: 'packaged:yamnet-int9-onnx' is not a packaged model",
        "classify.options.svc_c.C: The 'C' parameter of LinearSVC must be a float",
        "labels.sets.youtube.merge.cat: no label 'cat' in the sheet's labels (did you mean "
        "'cats'?)",
        "labels.sets.zs.threshold: 2 is out of range",
    ):
        assert fragment in out, (fragment, out)
    # a UTF-16 sheet without its BOM: named, with the configuration's problems
    (wd / "config" / "videos.tsv").write_bytes(
        sheet.to_csv(sep="\t", index=False).encode("utf-16-le")
    )
    out = _stopped_before_any_job(wd, snakemake(wd, "--dry-run", check=False))
    assert "is UTF-16LE text without a byte-order mark" in out
    assert "extractors.yamnet.model" in out
