"""The CLIP stage's report: its table (results/report/crossmodal/clip.md and clip.csv, from the
stage's tables) and the text2image grid (each generated image beside its video's closest
frames). The stage's jobs are in :mod:`trimodal.stages.clip`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from trimodal.plumbing.atomic import save_figure, write_table, write_text
from trimodal.store import features as store


def image_grid(
    per: pd.DataFrame,
    generated: Mapping[str, np.ndarray],
    frames: Iterable[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    frames_store: str,
    videos: Mapping[str, str],
    out_png: str,
    G: np.ndarray,
    n_frames: int = 3,
) -> Path:
    """The first videos of `generated`: each generated image, then its video's (distinct)
    frames closest to it by CLIP, decoded from the video file. `frames`: per video of
    `generated`, in its order, (video id, CLIP frame embeddings, their times, their rows in
    `frames_store`), as ``trimodal.stages.clip.frame_embeddings`` gives them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trimodal.media.keyframes import read_frames_at

    paths = dict(videos)
    table = store.load_table(frames_store, "frames")
    n_rows = len(generated)
    row_of = {v: i for i, v in enumerate(per["video_id"])}
    fig, axes = plt.subplots(
        n_rows, 1 + n_frames, figsize=(2.0 * (1 + n_frames), 2.2 * n_rows), squeeze=False
    )
    for r, (vid, E, times, rows) in enumerate(frames):
        i = row_of[vid]
        sims = E @ G[i]
        best = np.argsort(-sims, kind="stable")[:n_frames]
        numbers = table.loc[table["video_id"] == vid, "index"].to_numpy()[rows[best]]
        pictures = read_frames_at(paths[vid], numbers, size=128) if len(numbers) else []
        axes[r, 0].imshow(generated[vid])
        own = per["sim_own"].iloc[i]
        axes[r, 0].set_title(f"{vid[:22]}\ngenerated (own {own:.2f})", fontsize=6)
        for c in range(n_frames):
            if c < len(pictures):
                axes[r, 1 + c].imshow(pictures[c])
                title = f"t={times[best[c]]:.1f}s sim {sims[best[c]]:.2f}"
                axes[r, 1 + c].set_title(title, fontsize=6)
        for ax in axes[r]:
            ax.axis("off")
    fig.tight_layout()
    out = save_figure(fig, out_png, dpi=110)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- report

_COLS = (("R@1", 2), ("R@5", 2), ("R@10", 2), ("median_rank", 1), ("mrr", 3))


def _cell(r: pd.Series, col: str, digits: int) -> str:
    return f"{r[col]:.{digits}f} ({r['chance_' + col]:.{digits}f})"


def metrics_table_md(df: pd.DataFrame) -> str:
    head = ["direction", "frames", "frame agg.", "n", *(c for c, _ in _COLS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in df.iterrows():
        cells = [str(r["direction"]), str(r["frames"]), str(r["frame_agg"]), str(int(r["n"]))]
        cells += [_cell(r, c, d) for c, d in _COLS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_clip_report(
    out_md: str,
    out_csv: str,
    summaries: str | None = None,
    match_metrics: str | None = None,
    match_videos: str | None = None,
    t2i_metrics: str | None = None,
    t2i_videos: str | None = None,
    grid_name: str = "text2image_grid.png",
    models: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """results/report/crossmodal/clip.md and clip.csv from the stage's tables."""
    models = dict(models or {})
    parts = ["# CLIP stage: descriptions against frames, generated images against videos\n"]
    if models:
        parts.append(
            "Models: " + "; ".join(f"{k} `{v}`" for k, v in models.items() if v) + ". "
            "Every number below comes from these weights (random-weight models in tests "
            "give chance-level numbers).\n"
        )
    if summaries:
        s = pd.read_csv(summaries, sep="\t", keep_default_na=False)
        counts = s["method"].value_counts().to_dict()
        parts.append(
            f"{len(s)} descriptions, of which {len(s) - counts.get('as_is', 0)} longer than "
            f"CLIP's context were summarised (methods: "
            f"{', '.join(f'{k}: {v}' for k, v in counts.items())}); longest text given to CLIP: "
            f"{int(s['n_tokens'].max()) if len(s) else 0} tokens.\n"
        )
    frames = []
    if match_metrics:
        m = pd.read_csv(match_metrics, sep="\t")
        frames.append(m.assign(stage="clip_match"))
        parts.append(
            "## CLIP text ↔ video matching\n\nEach summary against every video's frames; "
            "retrieval over the whole corpus (chance in brackets).\n"
        )
        parts.append(metrics_table_md(m))
        if match_videos:
            v = pd.read_csv(match_videos, sep="\t", keep_default_na=False)
            lines = []
            for agg in [c[len("sim_own_") :] for c in v.columns if c.startswith("sim_own_")]:
                own, oth = v[f"sim_own_{agg}"], v[f"sim_others_mean_{agg}"]
                lines.append(
                    f"- frame agg. {agg}: mean similarity to its own video {own.mean():.3f}, "
                    f"to the others {oth.mean():.3f}; own video higher than the others' mean "
                    f"for {(own > oth).mean():.0%} of {len(v)} videos"
                )
            parts.append("\n".join(lines) + "\n")
    if t2i_metrics:
        t = pd.read_csv(t2i_metrics, sep="\t")
        frames.append(t.assign(stage="text2image"))
        r = t.iloc[0]
        parts.append(
            "\n## Text to image\n\nOne image per summary, embedded by CLIP and compared with "
            "the normalised mean of each video's frames.\n"
        )
        parts.append(metrics_table_md(t))
        parts.append(
            f"\nGenerated image closer to its own video than to every other: "
            f"{r['R@1']:.0%} of {int(r['n'])} videos (chance {r['chance_R@1']:.0%}); closer "
            f"than to the others' mean: {r['share_closer_than_others_mean']:.0%}. Mean "
            f"similarity to its own video {r['sim_matched']:.3f}, to the others "
            f"{r['sim_unmatched']:.3f}.\n\n![generated images and their closest frames]"
            f"({grid_name})\n"
        )
        if t2i_videos:
            v = pd.read_csv(t2i_videos, sep="\t", keep_default_na=False)
            parts.append(f"\nPer video: results/clip/text2image_videos.tsv ({len(v)} rows).\n")
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    write_text(out_md, "\n".join(parts))
    write_table(out_csv, df, index=False)
    return df
