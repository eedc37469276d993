"""A file cut at its end (issue 24): the header declares 4 s, the streams decode well under a
second. Its features are kept and flagged as a partial decode in the per-video file, the
store, results/failures.tsv (a warning row, not an error) and the report; `partial_decode:
error` makes it an error record instead. The same run has 2 videos per class (4 classes) and
runs every vector classifier and every fusion kind: exit 0."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from tests.workflow_project import make_project, small_sheet, snakemake
from trimodal.corpus.badinputs import make_truncated_end
from trimodal.fusion.kinds import FUSION_KINDS
from trimodal.learn.classifiers import CLASSIFIERS
from trimodal.store import features as store

pytestmark = pytest.mark.slow

VID = "bad_truncated_end"


def test_truncated_at_end_is_flagged_and_small_classes_run_everything(tmp_path, mimetype_clips):
    bad = make_truncated_end(mimetype_clips / "mp4.mp4", tmp_path / "media")
    sheet = small_sheet(per_label=2, extra_ids=())
    row = {"video_id": VID, "video": str(bad), "ad_audio": "", "description": "a robot",
           "label": ""}  # fmt: skip
    sheet = pd.concat([sheet, pd.DataFrame([row])], ignore_index=True)
    wd = make_project(tmp_path / "wd", sheet, feature_sets=("sbert_desc:mean", "yamnet:mean"))
    cfg_path = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["classify"]["classifiers"] = sorted(n for n, k in CLASSIFIERS.items() if not k.raw_text)
    cfg["fusion"] = {"sets": {"at": {"feature_sets": ["sbert_desc:mean", "yamnet:mean"],
                                     "kinds": sorted(FUSION_KINDS),
                                     "options": {"max_epochs": 20}}}}  # fmt: skip
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(wd)  # exit 0 (raises otherwise)

    for extractor in ("yamnet", "effnet"):
        part = store.load_partial(wd / "results" / "features" / f"{extractor}.h5")
        assert list(part["video_id"]) == [VID], extractor
        r = part.iloc[0]
        assert r.duration_declared == pytest.approx(4.0, abs=0.1)
        assert 0 < r.duration_decoded < 0.9 * r.duration_declared
    failures = pd.read_csv(wd / "results" / "failures.tsv", sep="\t", keep_default_na=False)
    rows = failures[failures["stage"] == "partial_decode"]
    assert sorted(rows["where"]) == ["effnet", "yamnet"] and set(rows["video_id"]) == {VID}
    assert all(r.startswith("warning (features kept): decoded ") for r in rows["reason"])
    summary = (wd / "results" / "report" / "youtube" / "summary.md").read_text()
    assert "## Partial decodes" in summary
    assert "yamnet: 1 video(s) decoded short" in summary and "effnet: 1 video(s)" in summary
    for kind in FUSION_KINDS:
        assert (wd / "results" / "fusion" / "youtube" / kind / "at.h5").exists(), kind

    # the switch: the same file becomes an error record (stage partial_decode); it is a param
    # of the media extractors, so switching it reruns them
    cfg["partial_decode"] = "error"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(wd, "results/failures.tsv")
    fails = store.load_failures(wd / "results" / "features" / "yamnet.h5")
    hit = fails[fails["video_id"] == VID]
    assert list(hit["stage"]) == ["partial_decode"] and "declared" in hit["reason"].iloc[0]
    assert VID not in set(store.load_pooled(wd / "results/features/yamnet.h5")[1])
