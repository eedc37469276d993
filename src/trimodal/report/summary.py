"""Results report: tables, confusion matrices, the fusion comparison and its verdict.

Every number in the report is read from the CV results passed in; the verdict sentence is
computed from them too, so the report says whatever the numbers say.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import textwrap
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from trimodal.learn.results import METRICS, CVResult  # noqa: E402
from trimodal.plumbing.atomic import save_figure, write_table, write_text  # noqa: E402

LEAKAGE_NOTE = (
    "**On leakage.** Two setups of the original study could not give honest numbers. "
    "(1) Rebalancing by duplicating minority-class rows *before* splitting puts copies of the same "
    "video on both sides of the split, so a classifier is partly tested on rows it was trained "
    "on; here any resampling happens inside `fit`, on the training rows of each fold only. "
    "(2) A late-fusion meta-classifier trained on probabilities that the base models produced for "
    "their own training rows learns from over-confident, memorised outputs: on pure noise it "
    "reaches near-perfect accuracy (see the leakage test). Here late-mean and late-vote combine "
    "out-of-fold probabilities (each produced by a base model that never saw that video) and "
    "train nothing on them; late-stack is fully nested: inside each outer fold the base models "
    "are refitted on the training rows only and the meta-classifier learns from an inner "
    "cross-validation of those rows, so no test row touched any model of its fold. All "
    "scaling, vocabularies and early stopping are likewise fitted inside each training fold."
)

_KIND_ORDER = {"single": 0, "early": 1, "intermediate": 2}


def plain(text: Any) -> str:
    """`text` drawn by matplotlib as written: an unescaped ``$`` would start mathtext (a label
    ``$^$`` stops the figure with a ParseSyntaxException, ``$5-$10`` is typeset as maths);
    ``\\$`` is mathtext's literal dollar sign."""
    return str(text).replace("$", r"\$")


#: characters per line of a class name on a confusion matrix's axes (longer ones wrap)
LABEL_WIDTH = 24


@cache
def _drawable(char: str) -> bool:
    """Whether matplotlib's default font has a glyph for `char` (emoji: not in DejaVu Sans)."""
    from matplotlib import font_manager, ft2font

    font = ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties()))
    return char.isspace() or font.get_char_index(ord(char)) != 0


def figure_label(text: Any, width: int = LABEL_WIDTH) -> str:
    """A class name as a figure can draw it whole: a character the font lacks (an emoji, drawn
    as an empty box) becomes its Unicode name in brackets, and the name wraps at `width`
    characters instead of running off the figure; ``$`` as in :func:`plain`."""
    text = "".join(
        c if _drawable(c) else f"[{unicodedata.name(c, f'U+{ord(c):04X}').lower()}]"
        for c in str(text)
    )
    return plain("\n".join(textwrap.wrap(text, width, break_long_words=True)) or text)


def _summary(r: CVResult | dict[str, Any]) -> dict[str, Any]:
    return r.summary() if isinstance(r, CVResult) else dict(r)


def _pm(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def _sort_key(s: dict[str, Any]):
    kind = s.get("kind", "single")
    ba = s.get("balanced_accuracy_mean", float("nan"))
    return (
        _KIND_ORDER.get(kind.split(":")[0], 3 if kind.startswith("late") else 4),
        np.inf if pd.isna(ba) else -ba,  # not evaluated: last of its kind
    )


def _evaluated(s: dict[str, Any]) -> bool:
    return not s.get("not_evaluated")


def evaluated(results: list) -> list:
    """The results that were scored (not those marked "not evaluated")."""
    return [r for r in results if _evaluated(_summary(r))]


def _provenance_of(r) -> dict[str, dict[str, Any]]:
    if isinstance(r, CVResult):
        return r.provenance
    prov = r.get("provenance") or {}
    return json.loads(prov) if isinstance(prov, str) else dict(prov)


def _ordered(results: list) -> list[tuple[dict[str, Any], Any]]:
    """(summary, result) in report order; row i + 1 of every table is the i-th of these."""
    return sorted(((_summary(r), r) for r in results), key=lambda p: _sort_key(p[0]))


def results_frame(results: list) -> pd.DataFrame:
    """One row per result with every summary number and the full provenance of its inputs
    (JSON: what produced each store it read), i.e. what summary.csv holds."""
    rows = [
        {"row": i + 1, **s, "provenance": json.dumps(_provenance_of(r), sort_keys=True)}
        for i, (s, r) in enumerate(_ordered(results))
    ]
    return pd.DataFrame(rows)


def _short(value: Any, n: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = text.replace(", ", ",").replace(": ", ":")
    return text if len(text) <= n else text[: n - 1] + "…"


def provenance_table(results: list) -> pd.DataFrame:
    """One row per input store the results read: what produced it (model, weights fingerprint,
    params, code hash) and the rows of the results table that used it."""
    return provenance_rows([_provenance_of(r) for _, r in _ordered(results)])


def provenance_rows(per_row: list[dict[str, dict[str, Any]]]) -> pd.DataFrame:
    """The provenance table of a table whose row i + 1 read the stores in ``per_row[i]``
    (feature set -> provenance)."""
    by_key: dict[str, dict[str, Any]] = {}
    for i, prov in enumerate(per_row):
        for feature_set, p in prov.items():
            ident = {k: v for k, v in p.items() if k != "packages"}
            key = json.dumps(ident, sort_keys=True, default=str)
            if key not in by_key:
                by_key[key] = {
                    "store": p.get("store") or f"({feature_set})",
                    "extractor": p.get("extractor", ""),
                    "model": p.get("model") or "–",
                    "weights (sha256)": _short(p.get("weights_sha256") or "–", 16),
                    "params": _short(p.get("params") or {}, 60),
                    # the extractor's code (as its extract jobs recorded it)
                    "code": _short(p.get("code") or "–", 12)
                    + (" (kept across package versions)" if p.get("across_versions") else ""),
                    "rows": [],
                }
            if i + 1 not in by_key[key]["rows"]:
                by_key[key]["rows"].append(i + 1)
    rows = sorted(by_key.values(), key=lambda d: (d["store"], d["rows"]))
    for d in rows:
        d["rows"] = ", ".join(map(str, d["rows"]))
    cols = ["store", "extractor", "model", "weights (sha256)", "params", "code", "rows"]
    return pd.DataFrame(rows, columns=cols)


def _is_circular(feature_set: str, circular) -> bool:
    """A row that reads a feature set its label set was derived from (config_check)."""
    names = {part.split(":")[0].split("(")[0] for part in str(feature_set).split("+")}
    return bool(names & set(circular))


def results_table(results: list, circular=()) -> pd.DataFrame:
    """The display table: scores as "mean ± std" in percent, majority baseline, n, folds, time;
    `#` numbers the rows (the provenance table refers to them). Rows that read a feature set in
    `circular` (extractors the label set was derived from) say "(circular)" after it."""
    rows = []
    for i, (s, _) in enumerate(_ordered(results)):
        mark = " (circular)" if _is_circular(s["feature_set"], circular) else ""
        head = {
            "#": i + 1,
            "kind": s.get("kind", "single"),
            "modality": s.get("modality", ""),
            "feature set": s["feature_set"] + mark,
            "classifier": s["classifier"],
            "protocol": protocol_text(s),
        }
        if not _evaluated(s):  # the reason instead of a score
            rows.append(
                {
                    **head,
                    "accuracy (%)": "not evaluated",  # why: in the Not evaluated list
                    "balanced accuracy (%)": "–",
                    "macro-F1 (%)": "–",
                    "majority acc. (%)": "–",
                    "majority macro-F1 (%)": "–",
                    "n videos": int(s.get("n_videos", 0)),
                    "n folds": 0,
                    "fit time (s/fold)": "–",
                }
            )
            continue
        rows.append(
            {
                **head,
                "accuracy (%)": _pm(s["accuracy_mean"], s["accuracy_std"]),
                "balanced accuracy (%)": _pm(
                    s["balanced_accuracy_mean"], s["balanced_accuracy_std"]
                ),
                "macro-F1 (%)": _pm(s["macro_f1_mean"], s["macro_f1_std"]),
                "majority acc. (%)": f"{100 * s['baseline_accuracy_mean']:.1f}",
                "majority macro-F1 (%)": f"{100 * s['baseline_macro_f1_mean']:.1f}",
                "n videos": int(s["n_videos"]),
                "n folds": int(s["n_folds"]),
                "fit time (s/fold)": f"{s['fit_time_s_mean']:.2f}",
            }
        )
    return pd.DataFrame(rows)


def protocol_text(s: dict[str, Any]) -> str:
    """Which protocol produced a row's numbers (trimodal.learn.cv): k-fold CV, or the sheet's
    official split (fit on train, early-stopped on val, scored once on test)."""
    if s.get("protocol", "kfold") == "split":
        return "official split (train → test)"
    n = int(s.get("n_folds", 0) or s.get("folds_requested", 0) or 0)
    return f"{n}-fold CV" if n else "k-fold CV"


def selection_table(results: list) -> pd.DataFrame:
    """Rows of the results table whose settings were chosen by a nested search: balanced
    accuracy at the fixed default and with the search, on the same outer folds, the gain, and
    the setting each outer fold chose (and how: the space, the inner CV, its score)."""
    rows = []
    for i, (s, _) in enumerate(_ordered(results)):
        if not s.get("selected") or not _evaluated(s):
            continue
        fixed = s.get("fixed_balanced_accuracy_mean", float("nan"))
        nested = s["balanced_accuracy_mean"]
        chosen, _, how = s["selected"].partition(" (")
        rows.append(
            {
                "#": i + 1,
                "feature set": s["feature_set"],
                "classifier": s["classifier"],
                "fixed default (%)": "–"
                if pd.isna(fixed)
                else _pm(fixed, s["fixed_balanced_accuracy_std"]),
                "nested (%)": _pm(nested, s["balanced_accuracy_std"]),
                "gain (points)": "–" if pd.isna(fixed) else f"{100 * (nested - fixed):+.1f}",
                "chosen per outer fold": chosen,
                "how": how.rstrip(")"),
            }
        )
    return pd.DataFrame(rows)


def _group(s: dict[str, Any]) -> str:
    kind = s.get("kind", "single")
    return (
        f"single:{s.get('modality') or s['feature_set']}" if kind == "single" else f"fusion:{kind}"
    )


def best_by_group(results: list) -> dict[str, Any]:
    """Best result (balanced accuracy) per single modality ("single:<modality>") and per fusion
    kind ("fusion:<kind>")."""
    best: dict[str, Any] = {}
    for r in evaluated(results):
        s = _summary(r)
        g = _group(s)
        if (
            g not in best
            or s["balanced_accuracy_mean"] > _summary(best[g])["balanced_accuracy_mean"]
        ):
            best[g] = r
    return best


def confusion_figure(result: CVResult):
    """Row-normalised confusion matrix of the out-of-fold predictions, class names on both axes."""
    classes = [str(c) for c in result.classes]
    k = len(classes)
    shown = [figure_label(c) for c in classes]
    # room for the longest (wrapped) name left of the matrix and under it (vertical ticks)
    names = 0.09 * max((len(line) for c in shown for line in c.split("\n")), default=0)
    size = (max(4.0, 0.6 * k + 2.5 + names), max(3.5, 0.6 * k + 2.0 + names))
    fig, ax = plt.subplots(figsize=size)
    ConfusionMatrixDisplay.from_predictions(
        np.asarray(result.y_true).astype(str),
        np.asarray(result.y_pred).astype(str),
        labels=classes,
        display_labels=shown,
        normalize="true",
        values_format=".2f",
        xticks_rotation="vertical",
        colorbar=False,
        ax=ax,
    )
    s = result.summary()
    ax.set_title(
        f"{plain(result.feature_set)} / {plain(result.classifier)}\n"
        f"balanced accuracy {_pm(s['balanced_accuracy_mean'], s['balanced_accuracy_std'])} %",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def save_confusion(result: CVResult, path: str | os.PathLike) -> Path:
    fig = confusion_figure(result)
    try:
        return save_figure(fig, path, dpi=120, format="png")
    finally:
        plt.close(fig)


def bars_figure(results: list):
    """Best single modalities vs fusions: balanced accuracy with fold std error bars."""
    best = best_by_group(results)
    names = sorted(best, key=lambda g: (g.startswith("fusion"), g))
    if not names:  # nothing was scored: say so instead of an empty chart
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "nothing evaluated (see summary.md)", ha="center", va="center")
        return fig
    sums = [_summary(best[g]) for g in names]
    means = [100 * s["balanced_accuracy_mean"] for s in sums]
    stds = [100 * s["balanced_accuracy_std"] for s in sums]
    colors = ["tab:blue" if g.startswith("single") else "tab:orange" for g in names]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(names) + 2), 4))
    ax.bar(range(len(names)), means, yerr=stds, capsize=4, color=colors)
    chance = [100 * s["baseline_balanced_accuracy_mean"] for s in sums]
    if chance:
        ax.axhline(max(chance), ls="--", color="grey", label="majority class")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xticks(
        range(len(names)), [plain(g.split(":", 1)[1]) for g in names], rotation=30, ha="right"
    )
    ax.set_ylabel("balanced accuracy (%)")
    ax.set_title("best single modality vs fusion (mean ± std over folds)", fontsize=9)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class FusionGap:
    """The best fusion against the best single modality (balanced accuracy, in points)."""

    fusion: dict  # the best fusion's summary
    single: dict  # the best single modality's summary

    @property
    def points(self) -> float:
        """Signed difference: positive when the fusion beats the single modality."""
        return 100 * (self.fusion["balanced_accuracy_mean"] - self.single["balanced_accuracy_mean"])

    @property
    def spread(self) -> float:
        """The larger fold-to-fold standard deviation of the two, in points."""
        return 100 * max(self.fusion["balanced_accuracy_std"], self.single["balanced_accuracy_std"])


def fusion_gap(results: list) -> FusionGap | None:
    """The verdict as data; None without both single-modality and fusion evaluations."""
    sums = [s for s in map(_summary, results) if _evaluated(s)]
    singles = [s for s in sums if s.get("kind", "single") == "single"]
    fusions = [s for s in sums if s.get("kind", "single") != "single"]
    if not singles or not fusions:
        return None
    return FusionGap(
        fusion=max(fusions, key=lambda s: s["balanced_accuracy_mean"]),
        single=max(singles, key=lambda s: s["balanced_accuracy_mean"]),
    )


def fusion_verdict(results: list) -> str:
    """One sentence comparing the best fusion with the best single modality (balanced accuracy)."""
    gap = fusion_gap(results)
    if gap is None:
        return "No fusion verdict: the results need both single-modality and fusion evaluations."
    bf, bs, diff = gap.fusion, gap.single, gap.points
    single_name = f"{bs.get('modality') or '?'}: {bs['feature_set']} / {bs['classifier']}"
    numbers = (
        f"balanced accuracy {100 * bf['balanced_accuracy_mean']:.1f} % vs "
        f"{100 * bs['balanced_accuracy_mean']:.1f} %"
    )
    if diff > 0:
        head = (
            f"Fusion ({bf['kind']}) beats the best single modality ({single_name}) "
            f"by {diff:.1f} points ({numbers})"
        )
    else:
        head = (
            f"Fusion ({bf['kind']}) does not beat the best single modality ({single_name}): "
            f"it is {-diff:.1f} points below ({numbers})"
        )
    if abs(diff) < gap.spread:
        head += f"; the gap is within the fold-to-fold spread ({gap.spread:.1f} points)"
    return head + "."


def _to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(str(row[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")


def partial_decodes(failures: str | os.PathLike | None) -> dict[str, int]:
    """Per store (extractor): how many videos results/failures.tsv lists as partial decodes
    (features kept from a file that ends before its declared duration, or error records when
    ``partial_decode: error``)."""
    if not failures or not Path(failures).exists():
        return {}
    df = pd.read_csv(failures, sep="\t", dtype=str, keep_default_na=False)
    part = df[df["stage"] == "partial_decode"]
    return {str(k): int(v) for k, v in part.groupby("where")["video_id"].nunique().items()}


#: what a sheet flag means, for the report
SHEET_FLAGS = {
    "non-utf8": "bytes that were not UTF-8 were replaced (U+FFFD) in this row's cells; "
    "save the sheet as UTF-8 to keep them"
}


def sheet_flag_items(failures: str | os.PathLike | None) -> list[str]:
    """The sample sheet's flagged rows (results/failures.tsv, stage ``sheet``), one line each:
    a row whose description was read with replaced bytes is part of the results."""
    if not failures or not Path(failures).exists():
        return []
    df = pd.read_csv(failures, sep="\t", dtype=str, keep_default_na=False)
    return [
        f"{r.video_id} ({r.where}): {r.reason}: {SHEET_FLAGS.get(r.reason, 'flagged')}"
        for r in df[df["stage"] == "sheet"].itertuples(index=False)
    ]


def load_results(results: list, label_set: str) -> list:
    """The results of `label_set` (CVResult objects or paths to their .h5 files); a result of
    no label set counts for every one."""
    res = [CVResult.from_h5(r) if isinstance(r, (str, os.PathLike)) else r for r in results]
    res = [r for r in res if r.label_set in ("", label_set)]
    if not res:
        raise ValueError(f"no results for label set {label_set!r}")
    return res


def write_figures(res: list, root: Path) -> dict[str, Any]:
    """confusion/<group>.png for the best result of each group (the folder even when empty: it
    is a rule output) and bars.png; their paths."""
    paths: dict[str, Any] = {"confusion": {}}
    (root / "confusion").mkdir(parents=True, exist_ok=True)  # a rule output, even if empty
    for group, r in best_by_group(res).items():
        paths["confusion"][group] = save_confusion(r, root / "confusion" / f"{_slug(group)}.png")
    fig = bars_figure(res)
    try:
        paths["bars"] = save_figure(fig, root / "bars.png", dpi=120, format="png")
    finally:
        plt.close(fig)
    return paths


def skipped_rows(res: list) -> list[str]:
    """The results that were not evaluated, by their row of the results table."""
    return [
        f"#{i + 1} {r.name}: {r.not_evaluated}"
        for i, (_, r) in enumerate(_ordered(res))
        if not r.evaluated
    ]


def intro_blocks(res: list, label_set: str, circular, skipped: list[str]) -> list[tuple]:
    """The title, what the scores are (classes, majority, the split protocol) and the results
    table."""
    scored = evaluated(res)
    classes = (
        f"classes: {', '.join(map(str, scored[0].classes))}"
        if scored
        else "nothing evaluated (see Not evaluated)"
    )
    return [
        ("h1", f"Results: label set `{label_set}`"),
        (
            "p",
            f"Cross-validated scores (mean ± std over folds, in %), {len(scored)} evaluations"
            + (f" ({len(skipped)} not evaluated)" if skipped else "")
            + f", {classes}. "
            "Majority = DummyClassifier(most_frequent) on the same folds. "
            + (
                "Rows of the official split (column protocol) were fitted on the sheet's "
                "train videos, early-stopped on its val videos where a learner early-stops, "
                "and scored once on its test videos (std 0)."
                if any(_summary(r).get("protocol") == "split" for r in res)
                else ""
            ),
        ),
        ("table", results_table(res, circular)),
    ]


def selection_blocks(res: list) -> list[tuple]:
    """The nested model selection's choices, where some result made one."""
    chosen = selection_table(res)
    if not len(chosen):
        return []
    return [
        ("h2", "Model selection (nested)"),
        (
            "p",
            "These rows' settings were chosen inside each outer training fold by an inner "
            "stratified (grouped when the label set has groups) cross-validation over the "
            "space named in the config; the outer test rows were never seen by the search. "
            "Fixed default = the same model at its default settings, fitted and scored on "
            "the same outer folds; balanced accuracy.",
        ),
        ("table", chosen),
    ]


def fusion_blocks(verdict: str, confusion: dict) -> list[tuple]:
    """The fusion verdict, the bars figure and the confusion matrices."""
    blocks: list[tuple] = [
        ("h2", "Fusion verdict"),
        ("p", verdict),
        ("img", "best single modality vs fusion", "bars.png"),
        (
            "h2",
            "Confusion matrices (best model per modality and per fusion kind, rows = true class)",
        ),
    ]
    for group, p in confusion.items():
        blocks += [("h3", group), ("img", group, f"confusion/{Path(p).name}")]
    return blocks


def provenance_blocks(res: list) -> list[tuple]:
    return [
        ("h2", "Provenance"),
        (
            "p",
            "What produced each store the rows above read (rows: the # of the results table); "
            "summary.csv holds the full record (packages too) in its provenance column.",
        ),
        ("table", provenance_table(res)),
    ]


def failure_blocks(flagged: list[str], partial: dict) -> list[tuple]:
    """The sample sheet's flags and the partial decodes of results/failures.tsv."""
    blocks: list[tuple] = []
    if flagged:
        blocks += [("h2", "Sample sheet flags"), ("list", flagged)]
    if partial:
        blocks += [
            ("h2", "Partial decodes"),
            (
                "list",
                [
                    f"{store}: {n} video(s) decoded short of their declared duration "
                    "(see results/failures.tsv, stage partial_decode)"
                    for store, n in sorted(partial.items())
                ],
            ),
        ]
    return blocks


def notes_blocks(res: list, circular) -> list[tuple]:
    """The results' notes, the circular rows' warning and the videos left out for missing
    features."""
    notes = sorted({f"{r.name}: {r.note}" for r in res if r.note})
    if circular:
        notes = [
            *notes,
            f"rows marked (circular) read features of {', '.join(circular)}, the model and text "
            f"this label set was derived from by zero-shot embedding: they measure how well a "
            "classifier recovers the relabelling rule, not the videos' content",
        ]
    n_missing = max(r.n_missing for r in res)
    if not (notes or n_missing):
        return []
    items = []
    if n_missing:
        items.append(
            f"up to {n_missing} labelled videos had no features for some feature sets "
            "and were left out of those evaluations"
        )
    return [("h2", "Notes"), ("list", items + notes)]


def write_report(
    results: list,
    out_dir: str | os.PathLike,
    label_set: str,
    circular=(),
    failures: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Write <out_dir>/<label_set>/{summary.md, summary.html, summary.csv, bars.png,
    confusion/*.png}: the same content as Markdown and as a self-contained HTML page.

    results: CVResult objects or paths to their .h5 files; those of another label set are skipped.
    """
    res = load_results(results, label_set)
    root = Path(out_dir) / label_set
    (root / "STALE.md").unlink(missing_ok=True)  # left by a failed run; this one is current
    csv = write_table(root / "summary.csv", results_frame(res), index=False)
    figures = write_figures(res, root)
    paths: dict[str, Any] = {"confusion": figures["confusion"], "csv": csv, "bars": figures["bars"]}

    verdict = fusion_verdict(res)
    skipped = skipped_rows(res)
    blocks = intro_blocks(res, label_set, circular, skipped)
    if skipped:
        blocks += [("h2", "Not evaluated"), ("list", skipped)]
    blocks += selection_blocks(res)
    blocks += fusion_blocks(verdict, paths["confusion"])
    blocks += provenance_blocks(res)
    paths["sheet_flags"] = sheet_flag_items(failures)
    paths["partial_decodes"] = partial_decodes(failures)
    blocks += failure_blocks(paths["sheet_flags"], paths["partial_decodes"])
    blocks += notes_blocks(res, circular)
    blocks += [("h2", "Leakage"), ("p", LEAKAGE_NOTE)]
    text = render_markdown(blocks)
    page = render_html(blocks, root, title=f"Results: label set {label_set}")
    paths["markdown"] = write_text(root / "summary.md", text)
    paths["html"] = write_text(root / "summary.html", page)
    paths["verdict"] = verdict
    return paths


def render_markdown(blocks: list[tuple]) -> str:
    """summary.md from the report's blocks (h1/h2/h3, p, list, table, img)."""
    md: list[str] = []
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3"):
            md += [f"{'#' * int(kind[1])} {args[0]}", ""]
        elif kind == "p":
            md += [args[0], ""]
        elif kind == "list":
            md += [*(f"- {item}" for item in args[0]), ""]
        elif kind == "table":
            md += [_to_markdown(args[0]), ""]
        elif kind == "img":
            md += [f"![{args[0]}]({args[1]})", ""]
    return "\n".join(md)


_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; }
th { background: #eee; }
tr:nth-child(even) td { background: #f8f8f8; }
img { max-width: 100%; }
"""


def _inline(text: str) -> str:
    """Plain text of the report's few inline marks (**bold**, `code`), escaped for HTML."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def render_html(blocks: list[tuple], root: Path, title: str) -> str:
    """summary.html: the same blocks as a self-contained page (tables as HTML tables, figures
    embedded), which `snakemake --report` shows as it is, unlike Markdown."""
    body: list[str] = []
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{_inline(args[0])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(args[0])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in args[0]) + "</ul>")
        elif kind == "table":  # "62.5 ± 1.0" stays on one line
            table = args[0].map(
                lambda v: v.replace(" ± ", "\u00a0±\u00a0") if isinstance(v, str) else v
            )
            body.append(table.to_html(index=False, border=0, escape=True))
        elif kind == "img":
            data = base64.b64encode((root / args[1]).read_bytes()).decode("ascii")
            alt = html.escape(args[0])
            body.append(f'<p><img alt="{alt}" src="data:image/png;base64,{data}"></p>')
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def print_summary(path: str | os.PathLike) -> str:
    """Print a report's tables, its not-evaluated rows and its verdict (path: summary.md or
    its folder); returns the text."""
    path = Path(path)
    if path.is_dir():
        path = path / "summary.md"
    lines = path.read_text().splitlines()
    keep, section = [], ""
    for ln in lines:  # the tables, and why a row was not evaluated
        section = ln[3:] if ln.startswith("## ") else section
        if ln.startswith(("# ", "|")) or (section == "Not evaluated" and ln.startswith("- ")):
            keep.append(ln)
    if "## Fusion verdict" in lines:
        i = lines.index("## Fusion verdict")
        keep += ["", next((ln for ln in lines[i + 1 :] if ln.strip()), "")]
    text = "\n".join(keep)
    print(text)
    return text


__all__ = [
    "LEAKAGE_NOTE",
    "METRICS",
    "best_by_group",
    "bars_figure",
    "confusion_figure",
    "evaluated",
    "FusionGap",
    "fusion_gap",
    "fusion_verdict",
    "print_summary",
    "provenance_rows",
    "provenance_table",
    "render_html",
    "render_markdown",
    "results_frame",
    "results_table",
    "save_confusion",
    "write_report",
]


if (
    __name__ == "__main__"
):  # `python -m trimodal.report.summary results/report`: the demo's last step
    import sys

    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results/report")
    for summary in sorted(root.glob("*/summary.md")):
        print_summary(summary)
        print()
    cross = root / "crossmodal" / "crossmodal.md"
    if cross.exists():
        print(cross.read_text())
