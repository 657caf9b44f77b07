"""Frame-level metrics shared by every method (DESIGN section 6). sklearn does the arithmetic."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

logger = logging.getLogger(__name__)


def micro_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC over all frames concatenated; NaN when only one class is present."""
    labels = np.asarray(labels)
    if labels.min() == labels.max():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """sklearn average precision (the XD-Violence headline metric)."""
    labels = np.asarray(labels)
    if labels.max() == 0:
        return float("nan")
    return float(average_precision_score(labels, scores))


def pr_curve_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Trapezoidal area under the PR curve, as printed as "AP" by RTFM / MGFN / XDVioDet."""
    labels = np.asarray(labels)
    if labels.max() == 0:
        return float("nan")
    precision, recall, _ = precision_recall_curve(labels, scores)
    return float(auc(recall, precision))


def macro_auc(df: pd.DataFrame) -> tuple[float, list[str]]:
    """Mean of per-video AUCs over videos with both classes; also returns the skipped video ids.

    ``df`` has columns video_id, label, score.
    """
    aucs, skipped = [], []
    for vid, g in df.groupby("video_id", sort=True):
        if g["label"].nunique() < 2:
            skipped.append(str(vid))
            continue
        aucs.append(roc_auc_score(g["label"], g["score"]))
    if skipped:
        logger.info("macro AUC skips %d single-class videos: %s", len(skipped), ", ".join(skipped))
    return (float(np.mean(aucs)) if aucs else float("nan")), skipped


def per_type_auc(df: pd.DataFrame) -> pd.DataFrame:
    """AUC of each anomaly type's frames against all normal frames.

    ``df`` has columns label, score, anomaly_type. Returns anomaly_type, auc, n_frames.
    """
    normal = df[df["label"] == 0]
    rows = []
    for atype, g in df[df["label"] == 1].groupby("anomaly_type", sort=True):
        if not atype or normal.empty:
            continue
        y = np.r_[np.zeros(len(normal)), np.ones(len(g))]
        s = np.r_[normal["score"].to_numpy(), g["score"].to_numpy()]
        rows.append({"anomaly_type": atype, "auc": float(roc_auc_score(y, s)), "n_frames": int(len(g))})
    return pd.DataFrame(rows, columns=["anomaly_type", "auc", "n_frames"])


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of the ROC curve."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr


def frame_metrics(df: pd.DataFrame) -> dict[str, float]:
    """All headline metrics for one set of scores (columns video_id, label, score)."""
    y, s = df["label"].to_numpy(), df["score"].to_numpy()
    mac, skipped = macro_auc(df)
    return {
        "micro_auc": micro_auc(y, s),
        "macro_auc": mac,
        "ap": average_precision(y, s),
        "pr_curve_auc": pr_curve_auc(y, s),
        "n_videos": int(df["video_id"].nunique()),
        "n_frames": int(len(df)),
        "n_skipped_macro": len(skipped),
    }
