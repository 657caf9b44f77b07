"""One evaluation for every method: frame metrics, per-type AUC, plots, leaderboard; plus the
frame-difference motion baseline that gives every leaderboard an honest reference row."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import cv2
from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from vad_kedro.core import metrics as M
from vad_kedro.core import smoothing
from vad_kedro.core.errors import DataError
from vad_kedro.core.params import BaselineParams, RegionParams
from vad_kedro.core.progress import progress

logger = logging.getLogger(__name__)

HEADLINE = ["micro_auc", "macro_auc", "ap", "pr_curve_auc"]
REGION_HEADLINE = ["rbdc", "tbdc"]


# ------------------------------------------------------------------------------ motion baseline
def motion_energy(frames: np.ndarray, blur: int = 5) -> np.ndarray:
    """Per-frame motion energy: mean absolute difference of consecutive blurred grey frames.

    Frame 0 takes the value of frame 1 (its difference is undefined). Returns float64 [T].
    """
    grey = np.stack([cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (blur, blur), 0) for f in frames])
    if len(grey) < 2:
        return np.zeros(len(grey))
    diff = np.abs(np.diff(grey.astype(np.int16), axis=0)).mean(axis=(1, 2)).astype(np.float64)
    return np.concatenate([diff[:1], diff])


def motion_baseline_scores(frames: dict[str, Callable[[], np.ndarray]], video_index: pd.DataFrame,
                           baseline: BaselineParams) -> pd.DataFrame:
    """Frame-difference baseline on the test videos, smoothed per video (no training, no labels)."""
    tests = video_index[video_index["split"] == "test"]
    parts = []
    for row in progress(list(tests.itertuples()), desc="motion baseline"):
        if row.video_id not in frames:
            raise DataError(row.video_id, "no decoded frames for this test video (run preprocessing)")
        score = smoothing.gaussian(motion_energy(frames[row.video_id]()), float(baseline["smooth_sigma"]))
        parts.append(pd.DataFrame({"video_id": row.video_id, "frame": np.arange(len(score), dtype=np.int32),
                                   "score": score.astype(np.float32)}))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------------------ evaluation
def join_scores(frame_scores: pd.DataFrame, frame_labels: pd.DataFrame, method: str) -> pd.DataFrame:
    """Inner-join scores to labels, checking every labelled frame has a finite score."""
    missing_cols = {"video_id", "frame", "score"} - set(frame_scores.columns)
    if missing_cols:
        raise DataError(f"{method}.frame_scores", f"missing columns {sorted(missing_cols)}")
    scores = frame_scores.copy()
    if not np.isfinite(scores["score"].to_numpy(dtype=float)).all():
        raise DataError(f"{method}.frame_scores", "scores contain NaN or inf")
    if "seed" not in scores:
        scores["seed"] = 0
    df = frame_labels.merge(scores, on=["video_id", "frame"], how="left")
    lost = df["score"].isna()
    if lost.any():
        bad = df.loc[lost, "video_id"].unique()[:5]
        raise DataError(f"{method}.frame_scores", f"{int(lost.sum())} labelled frames have no score (videos {list(bad)})")
    return df


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=0))


def evaluate_method(frame_scores: pd.DataFrame, frame_labels: pd.DataFrame, dataset: dict[str, Any],
                    method: str) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame]:
    """Metrics of one method (mean ± std over seeds), per-video AUC and per-type AUC.

    Returns (metrics json, mlflow metrics, per_video table, per_type table).
    """
    df = join_scores(frame_scores, frame_labels, method)
    per_seed = {seed: M.frame_metrics(g) for seed, g in df.groupby("seed", sort=True)}
    first = df[df["seed"] == min(per_seed)]
    summary: dict[str, Any] = {"method": method, "dataset": dataset.get("name", "")}
    for key in HEADLINE:
        summary[key], summary[f"{key}_std"] = _mean_std([m[key] for m in per_seed.values()])
    summary.update({k: per_seed[min(per_seed)][k] for k in ("n_videos", "n_frames", "n_skipped_macro")})
    summary["n_seeds"] = len(per_seed)
    _, skipped = M.macro_auc(first)
    summary["skipped_macro_videos"] = skipped
    per_type = M.per_type_auc(first)
    summary["per_type_auc"] = dict(zip(per_type["anomaly_type"], per_type["auc"]))
    per_type.insert(0, "method", method)

    rows = []
    for vid, g in first.groupby("video_id", sort=True):
        auc = M.micro_auc(g["label"].to_numpy(), g["score"].to_numpy())
        rows.append({"method": method, "video_id": vid, "auc": auc, "n_frames": len(g),
                     "abnormal_fraction": float(g["label"].mean())})
    per_video = pd.DataFrame(rows)
    tracked = {k: float(summary[k]) for k in HEADLINE if not math.isnan(summary[k])}
    logger.info("%s: micro AUC %.4f, macro AUC %.4f, AP %.4f (%d seed(s))", method, summary["micro_auc"],
                summary["macro_auc"], summary["ap"], summary["n_seeds"])
    return summary, tracked, per_video, per_type


def evaluate_object_method(frame_scores: pd.DataFrame, frame_labels: pd.DataFrame, dataset: dict[str, Any],
                           object_scores: pd.DataFrame, anomaly_regions: pd.DataFrame, regions: RegionParams,
                           method: str) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame]:
    """:func:`evaluate_method` plus RBDC and TBDC of the method's scored boxes (``object_scores``: video_id,
    frame, x1, y1, x2, y2, score) against ``anomaly_regions`` (:func:`vad_kedro.core.metrics.region_track_detection`).
    A criterion the dataset cannot give (no regions, or regions without tracks) is NaN, with the reason in
    ``region_note``, and is not sent to MLflow."""
    summary, tracked, per_video, per_type = evaluate_method(frame_scores, frame_labels, dataset, method)
    region = M.region_track_detection(object_scores, anomaly_regions, frame_labels, float(regions["alpha"]),
                                      float(regions["beta"]))
    summary.update(region)
    tracked.update({k: float(region[k]) for k in REGION_HEADLINE if not math.isnan(region[k])})
    logger.info("%s: RBDC %.4f, TBDC %.4f (%d boxes, %d ground-truth regions in %d tracks)%s", method, region["rbdc"],
                region["tbdc"], region["n_boxes"], region["n_regions"], region["n_tracks"],
                f"; {region['region_note']}" if region["region_note"] else "")
    return summary, tracked, per_video, per_type


def plot_roc(frame_scores: pd.DataFrame, frame_labels: pd.DataFrame, method: str) -> Figure:
    """ROC curve of the first seed's frame scores (the legend names the seed when there are several)."""
    df = join_scores(frame_scores, frame_labels, method)
    n_seeds = df["seed"].nunique()
    df = df[df["seed"] == df["seed"].min()]
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    if df["label"].nunique() == 2:
        fpr, tpr = M.roc_points(df["label"].to_numpy(), df["score"].to_numpy())
        seed = f", seed {int(df['seed'].iloc[0])} of {n_seeds}" if n_seeds > 1 else ""
        ax.plot(fpr, tpr, label=f"{method} (AUC {M.micro_auc(df['label'], df['score']):.3f}{seed})")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC: {method}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_score_curves(frame_scores: pd.DataFrame, frame_labels: pd.DataFrame, n_videos: int,
                      method: str) -> Figure:
    """Score curves of the test videos with the most abnormal frames; ground truth shaded."""
    df = join_scores(frame_scores, frame_labels, method)
    df = df[df["seed"] == df["seed"].min()]
    order = df.groupby("video_id")["label"].mean().sort_values(ascending=False).index[:n_videos]
    fig = Figure(figsize=(8, 1.6 * max(len(order), 1)))
    axes = fig.subplots(max(len(order), 1), 1, squeeze=False)
    for ax, vid in zip(axes[:, 0], order):
        g = df[df["video_id"] == vid].sort_values("frame")
        ax.fill_between(g["frame"], 0, 1, where=g["label"].to_numpy() > 0, color="tab:red", alpha=0.2,
                        transform=ax.get_xaxis_transform(), step="mid", label="anomaly")
        ax.plot(g["frame"], g["score"], color="tab:blue", lw=1)
        ax.set_ylabel(vid, fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_title(f"{method}: frame scores (red = ground-truth anomaly)")
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ leaderboard
def _method_seconds(method: str, timings: dict[str, float]) -> float:
    return float(sum(v for k, v in timings.items() if k.startswith(f"{method}.")))


def build_leaderboard(stored_metrics: dict[str, Callable[[], dict]], timings: dict[str, float],
                      *fresh_metrics: dict, notes: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """Leaderboard of every method whose metrics exist (this run's and earlier runs').

    Returns the table, its markdown rendering (followed by ``notes``, e.g. a pipeline the run
    skipped and why) and the per-anomaly-type AUC table (long format).
    """
    by_method: dict[str, dict] = {}
    for loader in stored_metrics.values():
        m = loader()
        by_method[m["method"]] = m
    for m in fresh_metrics:
        by_method[m["method"]] = m
    rows, types = [], []
    for name, m in sorted(by_method.items()):
        row = {k: m.get(k) for k in ("method", "dataset", "micro_auc", "micro_auc_std", "macro_auc", "macro_auc_std",
                                      "ap", "ap_std", "pr_curve_auc", "rbdc", "tbdc", "region_note", "n_seeds",
                                      "n_videos", "n_frames")}
        row["seconds"] = _method_seconds(name, timings)
        rows.append(row)
        types += [{"method": name, "dataset": m.get("dataset"), "anomaly_type": t, "auc": a}
                  for t, a in (m.get("per_type_auc") or {}).items()]
    table = pd.DataFrame(rows).sort_values("micro_auc", ascending=False, na_position="last").reset_index(drop=True)
    per_type = pd.DataFrame(types, columns=["method", "dataset", "anomaly_type", "auc"])
    return table, leaderboard_markdown(table, per_type, notes), per_type


def _fmt(mean: float | None, std: float | None, n_seeds: int | None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if n_seeds and n_seeds > 1 and std is not None and not math.isnan(std):
        return f"{mean:.3f} ± {std:.3f}"
    return f"{mean:.3f}"


def is_object_level(row: Any) -> bool:
    """Whether a leaderboard row is an object-level method (its metrics carry RBDC / TBDC and a region note)."""
    return isinstance(getattr(row, "region_note", None), str)


def region_notes(table: pd.DataFrame) -> list[str]:
    """What the RBDC / TBDC columns mean, and why a criterion is missing for a method (empty without
    object-level methods)."""
    rows = [r for r in table.itertuples() if is_object_level(r)]
    if not rows:
        return []
    return ["RBDC / TBDC: region- and track-based detection criteria (Ramachandra & Jones, WACV 2020) of the "
            "scored boxes of the object-level methods, area under the detection rate for 0-1 false positives "
            "per frame; blank = the method scores frames, not objects.",
            *(f"{r.method}: {r.region_note}" for r in rows if r.region_note)]


def leaderboard_markdown(table: pd.DataFrame, per_type: pd.DataFrame, notes: tuple[str, ...] = ()) -> str:
    """Markdown leaderboard (mean ± std where several seeds ran; ``seeds`` says how many; RBDC / TBDC for the
    object-level methods), the per-type AUC matrix, then ``notes``."""
    lines = ["| method | dataset | micro AUC | macro AUC | AP | RBDC | TBDC | seeds | videos | frames | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        rbdc, tbdc = ((_fmt(r.rbdc, None, 1), _fmt(r.tbdc, None, 1)) if is_object_level(r) else ("", ""))
        lines.append(f"| {r.method} | {r.dataset} | {_fmt(r.micro_auc, r.micro_auc_std, r.n_seeds)} | "
                     f"{_fmt(r.macro_auc, r.macro_auc_std, r.n_seeds)} | {_fmt(r.ap, r.ap_std, r.n_seeds)} | "
                     f"{rbdc} | {tbdc} | {r.n_seeds} | {r.n_videos} | {r.n_frames} | {r.seconds:.1f} |")
    if not per_type.empty:
        wide = per_type.pivot_table(index="method", columns="anomaly_type", values="auc")
        lines += ["", "Per-anomaly-type AUC (frames of that type against all normal frames):", "",
                  "| method | " + " | ".join(wide.columns) + " |", "|---|" + "---|" * len(wide.columns)]
        for method, r in wide.iterrows():
            lines.append(f"| {method} | " + " | ".join("–" if math.isnan(v) else f"{v:.3f}" for v in r) + " |")
    all_notes = [*region_notes(table), *notes]
    if all_notes:
        lines += ["", *(f"Note: {n}" for n in all_notes)]
    return "\n".join(lines) + "\n"
