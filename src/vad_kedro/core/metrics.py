"""Metrics shared by every method (DESIGN section 6): frame level for all, region / track level (RBDC, TBDC)
for the methods that score objects. sklearn and torchvision do the arithmetic."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score, roc_curve
from torchvision.ops import box_iou

from vad_kedro.core.errors import DataError

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


# ------------------------------------------------------------------------------ object level
REGION_COLUMNS = ["video_id", "frame", "x1", "y1", "x2", "y2"]


def _check_boxes(df: pd.DataFrame, what: str, frames: pd.DataFrame, extra: tuple[str, ...] = ()) -> None:
    """Columns present, finite coordinates and scores, x2 >= x1 and y2 >= y1, every (video_id, frame) a test frame."""
    missing = set(REGION_COLUMNS) | set(extra)
    missing -= set(df.columns)
    if missing:
        raise DataError(what, f"missing columns {sorted(missing)}")
    values = df[["x1", "y1", "x2", "y2", *extra]].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise DataError(what, "boxes or scores contain NaN or inf")
    if ((df["x2"] < df["x1"]) | (df["y2"] < df["y1"])).any():
        raise DataError(what, "a box has x2 < x1 or y2 < y1")
    known = df[["video_id", "frame"]].merge(frames[["video_id", "frame"]], how="left", indicator=True)
    unknown = known[known["_merge"] == "left_only"]
    if len(unknown):
        first = unknown.iloc[0]
        raise DataError(what, f"{len(unknown)} boxes lie on frames that are not test frames "
                              f"(first: video {first['video_id']!r}, frame {first['frame']})")


def best_detection_scores(detections: pd.DataFrame, regions: pd.DataFrame, alpha: float
                          ) -> tuple[np.ndarray, np.ndarray]:
    """For every ground-truth region, the highest score of a detection in its frame with IoU >= ``alpha``
    (-inf when none overlaps it enough): the region counts as detected at every threshold <= that score.

    Also returns, per detection, whether it overlaps any ground-truth region (else it is a false positive).
    """
    best = np.full(len(regions), -np.inf)
    hits = np.zeros(len(detections), bool)
    det_boxes = torch.tensor(detections[["x1", "y1", "x2", "y2"]].to_numpy(np.float64))
    gt_boxes = torch.tensor(regions[["x1", "y1", "x2", "y2"]].to_numpy(np.float64))
    scores = detections["score"].to_numpy(np.float64)
    det_groups = detections.groupby(["video_id", "frame"], sort=False).indices
    for key, gt_rows in regions.groupby(["video_id", "frame"], sort=False).indices.items():
        det_rows = det_groups.get(key)
        if det_rows is None:
            continue
        match = box_iou(det_boxes[det_rows], gt_boxes[gt_rows]).numpy() >= alpha   # [detections, regions] of the frame
        hits[det_rows] = match.any(axis=1)
        best[gt_rows] = np.where(match, scores[det_rows, None], -np.inf).max(axis=0)
    return best, hits


def track_detection_scores(best: np.ndarray, track_ids: np.ndarray, beta: float) -> np.ndarray:
    """Per ground-truth track, the highest threshold at which at least ``beta`` of its regions are detected:
    the k-th largest of its regions' best scores with k = ceil(beta * n_regions)."""
    out = []
    for track in np.unique(track_ids):
        s = np.sort(best[track_ids == track])[::-1]
        k = max(1, math.ceil(beta * len(s) - 1e-9))
        out.append(s[k - 1])
    return np.asarray(out, dtype=float)


def _area_to_fpr_one(fpr: np.ndarray, rate: np.ndarray) -> float:
    """Area under rate(fpr) for fpr in [0, 1]: points past 1 are dropped and the last rate is carried to 1."""
    keep = fpr <= 1
    fpr, rate = fpr[keep], rate[keep]
    if fpr[-1] < 1:
        fpr, rate = np.r_[fpr, 1.0], np.r_[rate, rate[-1]]
    return float(auc(fpr, rate))


def region_track_detection(detections: pd.DataFrame, regions: pd.DataFrame, frames: pd.DataFrame,
                           alpha: float = 0.1, beta: float = 0.1) -> dict[str, float | int | str]:
    """RBDC and TBDC (Ramachandra & Jones, "Street Scene: A new dataset and evaluation protocol for video
    anomaly detection", WACV 2020, Sec. 4) of scored boxes against ground-truth anomalous regions.

    At a threshold t the detections are the boxes with score >= t. A ground-truth region is detected when a
    detection in the same frame has IoU >= ``alpha`` with it; a detection that reaches IoU ``alpha`` with no
    ground-truth region is a false positive. Region-based detection rate = detected regions / all regions;
    track-based detection rate = tracks with at least ``beta`` of their regions detected / all tracks; false
    positive rate = false positives / number of test frames. Sweeping t over the detection scores traces both
    rates against the false-positive rate; RBDC and TBDC are the areas under these curves for a false-positive
    rate from 0 to 1 (at most 1), starting at (0, 0). As in the public evaluation script of Georgescu et al.
    (TPAMI 2021, ``compute_fpr_rbdr``), a curve that ends before a rate of 1 is continued flat to 1 and points
    past 1 are dropped. Differences from that script: tied scores enter together (the script adds detections
    one at a time, so its area depends on the order of ties) and IoU is torchvision's ``box_iou`` on
    continuous coordinates (the script adds 1 pixel to widths and heights).

    Args:
        detections: video_id, frame, x1, y1, x2, y2, score: the scored boxes of every test frame.
        regions: video_id, frame, x1, y1, x2, y2[, track_id]: the ground-truth anomalous regions; without
            tracks (no column, or any id < 0) TBDC is NaN.
        frames: video_id, frame of every test frame (the false-positive rate is per frame of this table).
        alpha: IoU a detection needs with a region (0.1 in the paper).
        beta: fraction of a track's regions that must be detected (0.1 in the paper).

    Returns:
        ``rbdc``, ``tbdc`` (NaN when undefined), ``n_regions``, ``n_tracks``, ``n_boxes`` and ``region_note``
        (empty, or why a criterion is NaN).
    """
    if not (0 < alpha <= 1 and 0 < beta <= 1):
        raise ValueError(f"alpha and beta must be in (0, 1], got {alpha}, {beta}")
    if len(frames) == 0:
        raise DataError("frame_labels", "no test frame: RBDC / TBDC need the number of frames")
    _check_boxes(detections, "object_scores", frames, ("score",))
    _check_boxes(regions, "anomaly_regions", frames)
    regions = regions.reset_index(drop=True)
    detections = detections.reset_index(drop=True)
    has_tracks = bool(len(regions)) and "track_id" in regions and bool((regions["track_id"] >= 0).all())
    out: dict[str, float | int | str] = {"rbdc": float("nan"), "tbdc": float("nan"), "n_regions": len(regions),
                                         "n_tracks": int(regions.groupby(["video_id", "track_id"]).ngroups)
                                         if has_tracks else 0, "n_boxes": len(detections), "region_note": ""}
    if len(regions) == 0:
        out["region_note"] = "the dataset has no ground-truth anomalous regions"
        return out
    best, hits = best_detection_scores(detections, regions, alpha)
    scores = detections["score"].to_numpy(np.float64)
    thresholds = np.unique(scores)[::-1]                            # descending: one curve point per distinct score
    fp_scores = np.sort(scores[~hits])
    fpr = np.r_[0.0, (len(fp_scores) - np.searchsorted(fp_scores, thresholds, side="left")) / len(frames)]

    def rate(item_scores: np.ndarray) -> np.ndarray:
        s = np.sort(item_scores)
        return np.r_[0.0, (len(s) - np.searchsorted(s, thresholds, side="left")) / len(s)]

    out["rbdc"] = _area_to_fpr_one(fpr, rate(best))
    if has_tracks:
        track_key = pd.factorize(pd.MultiIndex.from_frame(regions[["video_id", "track_id"]]))[0]
        out["tbdc"] = _area_to_fpr_one(fpr, rate(track_detection_scores(best, track_key, beta)))
    else:
        out["region_note"] = "the ground-truth regions have no track ids: no TBDC"
    return out
