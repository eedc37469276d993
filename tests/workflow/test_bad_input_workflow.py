"""The workflow-level edges of bad input (issue 32, section 2), combined into one dry run and
one small project run (workflow tests are slow on 2 cores)."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import yaml

from tests.workflow_project import ROOT, SMALL_EXTRACTORS, make_project, small_sheet, snakemake

EMOJI_LABEL = "🎸 instruments, strings and winds, every one of them in one long class name"


def _set_config(wd, **changes) -> dict:
    path = wd / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config.update(changes)
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return config


@pytest.mark.slow
def test_dry_run_refuses_nul_labels_long_ids_fractional_timeouts_and_stack_variants(tmp_path):
    """Each passed the check before and failed later (every classify job, the probe batch, no
    limit at all, the fuse job): now one message names them all, before any job."""
    sheet = pd.DataFrame(
        {"video_id": ["v1", "v" * 220], "video": [str(ROOT / "Snakefile")] * 2,
         "description": ["a", "b"], "label": ["ca\x00ts", "dogs"]}
    )  # fmt: skip
    wd = make_project(tmp_path, sheet)
    config = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    config["video_timeout_s"] = 0.5
    config["classify"]["options"] = {"svc_bal": {"base": "ovr_linear_svc", "C": 2.0}}
    fs = config["classify"]["feature_sets"][:2]
    config["fusion"] = {
        "sets": {"s": {"feature_sets": fs, "kinds": ["late-stack"], "classifier": "svc_bal"}}
    }
    _set_config(wd, **config)
    proc = snakemake(wd, "--dry-run", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out, out
    assert not (wd / "results").exists()
    for fragment in (
        "row 1 (line 2), column label: contains a NUL byte",
        "row 2 (line 3), column video_id: id of 220 characters is too long (at most 150",
    ):
        assert fragment in out, (fragment, out)
    # the sheet fixed: the configuration's own problems
    sheet.loc[0, "label"], sheet.loc[1, "video_id"] = "cats", "v2"
    sheet.to_csv(wd / "config" / "videos.tsv", sep="\t", index=False)
    proc = snakemake(wd, "--dry-run", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out, out
    for fragment in (
        "video_timeout_s: 0.5 is not allowed: per-video time limit of every extract job, in "
        "whole seconds >= 1 (0 = none)",
        "fusion.sets.s.classifier: 'svc_bal' is a classify.options variant; late-stack fusion",
    ):
        assert fragment in out, (fragment, out)


@pytest.mark.slow
def test_odd_files_split_with_a_val_only_class_and_report_edges(tmp_path):
    """One small run: a FIFO and a directory as videos under `probe: {fingerprint: true}`
    (once: planning hung / a traceback), the split protocol with a class whose videos are all
    `val` through intermediate fusion (once: a ValueError and no report), a non-UTF-8
    description (flag once in failures.tsv only) and a long emoji class name (cut, boxes)."""
    sheet = small_sheet(per_label=2, extra_ids=())
    labels = sorted(sheet["label"].unique())
    sheet["split"] = ["train", "test"] * (len(sheet) // 2)
    sheet.loc[sheet["label"] == labels[-1], "split"] = "val"  # this class: val videos only
    sheet.loc[sheet["label"] == labels[1], "label"] = EMOJI_LABEL
    fifo, folder = tmp_path / "stream.mp4", tmp_path / "folder.mp4"
    os.mkfifo(fifo)
    folder.mkdir()
    odd = pd.DataFrame(
        {"video_id": ["odd_fifo", "odd_dir"], "video": [str(fifo), str(folder)],
         "ad_audio": ["", ""], "description": ["a pipe", "a folder"], "label": ["", ""],
         "split": ["", ""]}
    )  # fmt: skip
    sheet = pd.concat([sheet, odd], ignore_index=True)
    flagged = sheet.loc[0, "video_id"]
    sheet.loc[0, "description"] = "caf\x01 au lait"  # a placeholder for the raw byte
    wd = make_project(
        tmp_path / "wd",
        sheet,
        {"sbert_desc": SMALL_EXTRACTORS["sbert_desc"]},
        feature_sets=("sbert_desc:mean", "sbert_desc:max"),
    )  # fmt: skip
    raw = (wd / "config" / "videos.tsv").read_bytes().replace(b"caf\x01", b"caf\xe9")
    (wd / "config" / "videos.tsv").write_bytes(raw)
    config = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    config["probe"] = {**config.get("probe", {}), "fingerprint": True}
    config["classify"]["cv"] = {"protocol": "split", "seed": 0}
    config["fusion"] = {
        "sets": {
            "desc": {
                "feature_sets": ["sbert_desc:mean", "sbert_desc:max"],
                "classifier": "ovr_linear_svc",
                "kinds": ["intermediate"],
                "options": {"max_epochs": 20},
            }
        }
    }
    _set_config(wd, **config)
    snakemake(wd, timeout=1200)  # the whole workflow: exit 0, no hang at "Building DAG"

    failures = pd.read_csv(wd / "results" / "failures.tsv", sep="\t", dtype=str)
    reason = failures.set_index("video_id")["reason"]
    assert reason["odd_fifo"] == "not a regular file (FIFO)"
    assert reason["odd_dir"] == "not a regular file (directory)"
    report = wd / "results" / "report" / "youtube"
    assert not (report / "STALE.md").exists()
    text = (report / "summary.md").read_text()
    assert "## Sample sheet flags" in text
    assert f"{flagged} (line 2): non-utf8" in text
    assert "classes: " in text and "classes: none" not in text
    assert EMOJI_LABEL in text or "🎸" in (report / "summary.csv").read_text()
    summary = pd.read_csv(report / "summary.csv")
    intermediate = summary[summary["kind"] == "intermediate"]
    assert len(intermediate) == 1 and intermediate["balanced_accuracy_mean"].notna().all()
    assert list((report / "confusion").glob("*.png"))
