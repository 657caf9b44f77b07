"""One self-contained HTML report across methods: leaderboard, ROC curves, per-type AUC, score curves
of the hardest test videos and run time per pipeline. Figures are embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable
from datetime import datetime, timezone

from matplotlib.figure import Figure
import pandas as pd

from vad_kedro.core import metrics as M

from .nodes import is_object_level, region_notes

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.note{color:#666;font-size:13px}
"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def _first_seed(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["seed"] == df["seed"].min()] if "seed" in df else df


def _joined(scores: dict[str, pd.DataFrame], labels: pd.DataFrame) -> dict[str, pd.DataFrame]:
    out = {}
    for method, df in scores.items():
        cols = ["video_id", "frame", "score"] + (["seed"] if "seed" in df else [])
        j = labels.merge(_first_seed(df)[cols], on=["video_id", "frame"], how="inner")
        if len(j) == len(labels):
            out[method] = j
    return out


def roc_figure(joined: dict[str, pd.DataFrame]) -> Figure:
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    for method, df in sorted(joined.items()):
        if df["label"].nunique() == 2:
            fpr, tpr = M.roc_points(df["label"].to_numpy(), df["score"].to_numpy())
            seed = f", seed {int(df['seed'].iloc[0])}" if "seed" in df else ""   # the curve is one seed's
            ax.plot(fpr, tpr, lw=1.2, label=f"{method} ({M.micro_auc(df['label'], df['score']):.3f}{seed})")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Frame-level ROC (micro)")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def hardest_videos(joined: dict[str, pd.DataFrame], n: int) -> list[str]:
    """Test videos with both classes whose per-video AUC, averaged over methods, is lowest."""
    rows = []
    for method, df in joined.items():
        for vid, g in df.groupby("video_id"):
            if g["label"].nunique() == 2:
                rows.append((vid, M.micro_auc(g["label"].to_numpy(), g["score"].to_numpy())))
    if not rows:
        return []
    mean = pd.DataFrame(rows, columns=["video_id", "auc"]).groupby("video_id")["auc"].mean().sort_values()
    return list(mean.index[:n])


def curves_figure(joined: dict[str, pd.DataFrame], videos: list[str]) -> Figure:
    fig = Figure(figsize=(10, 2.2 * len(videos)))
    axes = fig.subplots(len(videos), 1, squeeze=False)
    for ax, vid in zip(axes[:, 0], videos):
        for method, df in sorted(joined.items()):
            g = df[df["video_id"] == vid].sort_values("frame")
            s = g["score"].to_numpy(dtype=float)
            span = s.max() - s.min()
            ax.plot(g["frame"], (s - s.min()) / span if span > 0 else s * 0, lw=1, label=method)
        g = next(iter(joined.values()))
        g = g[g["video_id"] == vid].sort_values("frame")
        ax.fill_between(g["frame"], 0, 1, where=g["label"].to_numpy() > 0, color="tab:red", alpha=0.15,
                        transform=ax.get_xaxis_transform())
        ax.set_ylabel(vid, fontsize=8)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper left")
    axes[0, 0].set_title("Scores (min-max per video, for display) on the hardest test videos; red = anomaly")
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    return fig


def pipeline_times(timings: dict[str, float], method_pipeline: dict[str, str]) -> pd.DataFrame:
    """Seconds per pipeline from node timings: a node belongs to its method's pipeline, else to its namespace."""
    rows = []
    for name, seconds in timings.items():
        top = name.split(".")[0] if "." in name else "preprocessing"
        rows.append((method_pipeline.get(top, top), seconds))
    if not rows:
        return pd.DataFrame(columns=["pipeline", "seconds"])
    df = pd.DataFrame(rows, columns=["pipeline", "seconds"]).groupby("pipeline", as_index=False)["seconds"].sum()
    return df.sort_values("seconds", ascending=False)


def build_report(leaderboard: pd.DataFrame, per_type: pd.DataFrame, frame_labels: pd.DataFrame,
                 stored_scores: dict[str, Callable[[], pd.DataFrame]], timings: dict[str, float],
                 n_videos: int, method_pipeline: dict[str, str]) -> str:
    """The HTML report over every method in the leaderboard whose frame scores are stored."""
    scores = {}
    for key, loader in stored_scores.items():
        method = key.split("/")[0]
        if method in set(leaderboard["method"]):
            scores[method] = loader()
    joined = _joined(scores, frame_labels)
    board = leaderboard.copy()
    for col in board.columns:
        if board[col].dtype.kind == "f":
            board[col] = board[col].map(lambda v: "–" if v is None or math.isnan(v) else f"{v:.3f}")
    notes = region_notes(leaderboard)
    if "region_note" in board:   # RBDC / TBDC: blank for the frame-level methods, the reasons under the table
        frame_level = [not is_object_level(r) for r in leaderboard.itertuples()]
        board.loc[frame_level, ["rbdc", "tbdc"]] = ""
        board = board.drop(columns="region_note")
    parts = [f"<html><head><meta charset='utf-8'><title>vad_kedro report</title><style>{_STYLE}</style></head><body>",
             "<h1>vad_kedro report</h1>",
             f"<p class='note'>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} · dataset "
             f"{html.escape(', '.join(sorted(set(map(str, leaderboard['dataset'])))))} · "
             f"{frame_labels['video_id'].nunique()} test videos, {len(frame_labels)} frames, "
             f"{100 * frame_labels['label'].mean():.1f}% abnormal. Mean ± std over seeds where a method ran several.</p>",
             "<h2>Leaderboard</h2>", board.to_html(index=False, border=0),
             *(f"<p class='note'>{html.escape(n)}</p>" for n in notes)]
    if not per_type.empty:
        wide = per_type.pivot_table(index="method", columns="anomaly_type", values="auc").round(3)
        parts += ["<h2>Per-anomaly-type AUC</h2><p class='note'>Frames of one type against all normal frames.</p>",
                  wide.to_html(border=0, na_rep="–")]
    if joined:
        parts += ["<h2>ROC curves (the first seed of a method that ran several; the legend names it)</h2>",
                  _png(roc_figure(joined))]
        videos = hardest_videos(joined, n_videos)
        if videos:
            parts += ["<h2>Hardest test videos</h2>", _png(curves_figure(joined, videos))]
    times = pipeline_times(timings, method_pipeline)
    if not times.empty:
        times["seconds"] = times["seconds"].map(lambda v: f"{v:.1f}")
        parts += ["<h2>Run time per pipeline</h2><p class='note'>Latest run of each node, seconds.</p>",
                  times.to_html(index=False, border=0)]
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["build_report", "hardest_videos", "pipeline_times"]
