"""The cross-modal stage: one embedding-to-embedding mapping pair scored by retrieval over every
video both stores hold, and the summary table, heatmap and provenance of every pair."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from trimodal.plumbing.atomic import write_table, write_text

log = logging.getLogger("trimodal")


def crossmodal_pair(
    spec: dict,
    labels_tsv: str | None,
    features_dir: str,
    output: str,
    folds_out: str | None = None,
    ranks_out: str | None = None,
    videos: dict | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Cross-modal retrieval of one pair over every video both stores hold, labelled or not
    (trimodal.crossmodal.evaluate.candidate_folds). videos: the sheet's rows, a table
    (video_id, group, split) or {video_id: [group, split]}; labels_tsv: an optional label set,
    for label agreement (None or ""). The fold of each video goes to `folds_out` (default:
    <output stem>.folds.tsv), each test query's top-k retrieved videos to `ranks_out`
    (trimodal.crossmodal.rankings), when given."""
    from trimodal.crossmodal.evaluate import run_pairs
    from trimodal.crossmodal.rankings import write_rankings
    from trimodal.labels.label_sets import load_labels

    labels = load_labels(labels_tsv) if labels_tsv else None
    if isinstance(videos, dict):
        videos = pd.DataFrame(
            [(vid, *vals) for vid, vals in videos.items()],
            columns=["video_id", "group", "split"],
            dtype=object,
        )
    retrieved: dict = {}
    df, folds = run_pairs(
        spec, features_dir, labels, with_folds=True, videos=videos, retrieved=retrieved
    )
    folds_out = folds_out or str(Path(output).with_suffix(".folds.tsv"))
    write_table(folds_out, folds, sep="\t", index=False)
    if ranks_out:
        write_rankings(ranks_out, retrieved)
    write_table(output, df, sep="\t", index=False)
    log.info("\n%s", df.to_string())
    return df


HUBNESS_NOTE = (
    "Rankings: cosine (plain); csls (cross-domain similarity local scaling: 2 cos(q, t) minus "
    "the mean cosine of q to its 10 nearest training targets and of t to its 10 nearest "
    "training queries); qbnorm (query-bank normalisation, dynamic inverted softmax, beta 20, "
    "bank = the training fold's mapped queries); isoftmax (inverted softmax over the same "
    "bank). None is transductive: no correction looks at the other test queries. N_10 skew = "
    "skewness of how often each test item appears in a query's top 10 (random ranking: the "
    "value in brackets; large = hubs); never retrieved = share of test items in nobody's top "
    "10. 'selected per fold' is what each outer training fold chose: ridge's alpha (leave-one-"
    "out on the training rows), a learnt temperature, or the mapping of the auto method "
    "(inner 3-fold MRR on the training rows); on a 'select' row also the ranking that fold "
    "chose (cosine, csls, isoftmax or qbnorm with its beta from 5, 10, 20, 40; inner 3-fold "
    "MRR on the training rows, cosine on ties), so a correction is used only where the "
    "training rows say it helps."
)


#: published retrieval figures on QuerYD's official test split (collaborative experts, the
#: QuerYD paper's table; /work/shared/QUERYD.md gives text -> video R@1 only)
PUBLISHED_QUERYD = {"text → video": {"R@1": 13.9}}
PUBLISHED_NOTE = (
    "Rows scored under the split protocol (retrieval over every test video with both stores), "
    "in %, beside the figure published for QuerYD (collaborative experts, Oncescu et al. 2021: "
    "text → video R@1 13.9 % over its 386 test videos); the project's notes hold no other "
    "published figure (–). A figure is comparable only on QuerYD's own test list."
)


def published_table(df: pd.DataFrame) -> pd.DataFrame:
    """The split-protocol rows' R@1/5/10, median and mean rank beside the published figure."""
    if "protocol" not in df or "R@1" not in df:
        return pd.DataFrame()
    rows = df[(df["protocol"] == "split") & df["R@1"].notna()]
    out = []
    for _, r in rows.iterrows():
        direction = str(r.get("direction", "") or "")
        pub = PUBLISHED_QUERYD.get(direction, {})
        out.append(
            {
                "source → target": f"{r['source']} → {r['target']}",
                "direction": direction or "–",
                "method": f"{r['method']}/{r['loss']}",
                "ranking": str(r.get("ranking", "cosine")),
                "test videos": int(r["n_test"]),
                **{f"R@{k} %": f"{100 * r[f'R@{k}']:.1f}" for k in (1, 5, 10)},
                "median rank": f"{r['median_rank']:.1f}",
                "mean rank": f"{r['mean_rank']:.1f}" if pd.notna(r.get("mean_rank")) else "–",
                "published R@1 % (CE)": f"{pub['R@1']:.1f}" if "R@1" in pub else "–",
            }
        )
    return pd.DataFrame(out)


def crossmodal_summary(tables: list[str], outputs: dict[str, str]) -> pd.DataFrame:
    """The cross-modal table (Markdown and a self-contained HTML page, for `snakemake
    --report`), its CSV, the heatmap and the provenance of every store it read."""
    from trimodal.crossmodal.evaluate import (
        crossmodal_heatmap,
        crossmodal_table,
        hubness_figure,
        row_provenance,
    )
    from trimodal.report.summary import provenance_rows, render_html, render_markdown

    df = pd.concat([pd.read_csv(t, sep="\t") for t in tables], ignore_index=True)
    text_cols = ("note", "provenance", "selected", "k_occurrence", "direction")
    for col in text_cols:  # text: empty, not NaN
        if col in df:
            df[col] = df[col].astype(object).where(df[col].notna(), "")
    write_table(outputs["csv"], df, index=False)
    crossmodal_heatmap(df, outputs["heatmap"])
    blocks = [
        ("h1", "Cross-modal retrieval"),
        ("p", "mean ± std over folds (chance in brackets)"),
        ("table", crossmodal_table(df)),
        ("p", "(chance level in brackets; mean ± std over CV folds)"),
        ("img", "best R@10 per pair", Path(outputs["heatmap"]).name),
    ]
    published = published_table(df)
    if len(published):
        blocks += [
            ("h2", "Official split beside the published figure"),
            ("p", PUBLISHED_NOTE),
            ("table", published),
        ]
    if outputs.get("hubness"):
        hubness_figure(df, outputs["hubness"])
        blocks += [
            ("h2", "Hubness"),
            ("p", HUBNESS_NOTE),
            ("img", "k-occurrence and R@k per pair", Path(outputs["hubness"]).name),
        ]
    blocks += [
        ("h2", "Provenance"),
        ("p", "What produced each store the rows above read (rows: the # of the table)."),
        ("table", provenance_rows(row_provenance(df))),
    ]
    root = Path(outputs["table"]).parent
    write_text(outputs["table"], render_markdown(blocks))
    if outputs.get("html"):
        write_text(outputs["html"], render_html(blocks, root, "Cross-modal retrieval"))
    return df
