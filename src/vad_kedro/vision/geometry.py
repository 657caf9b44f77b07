"""Axis-aligned box helpers. Boxes are float arrays [..., 4] = (x1, y1, x2, y2) in pixels,
with x2 = x1 + width (continuous coordinates: a box covering pixel columns 3..5 is x1=3, x2=6)."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of boxes ``a`` [N,4] and ``b`` [M,4] -> [N,M] float64."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Clip boxes to the image ``[0,width] x [0,height]``.

    Returns the clipped boxes and a bool mask of rows that changed (the caller counts and logs
    the repair). Boxes that end up empty keep zero width/height; callers usually drop them.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, width)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, height)
    changed = np.any(np.abs(clipped - boxes) > 1e-6, axis=1)
    return clipped, changed


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of boxes [N,4]."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (OpenCV ``cv2.dnn.NMSBoxes``), best first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]].tolist()
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    shifted = (scores - scores.min() + 1.0).tolist()  # NMSBoxes needs a score threshold >= 0: keep every box
    keep = cv2.dnn.NMSBoxes(xywh, shifted, 0.0, float(iou_threshold))
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def scale_boxes(boxes: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Scale x coordinates by ``sx`` and y coordinates by ``sy``."""
    out = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    out[:, [0, 2]] *= sx
    out[:, [1, 3]] *= sy
    return out


def matched_at_iou(truth: np.ndarray, detections: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Bool mask over ``truth`` [N,4]: matched one-to-one to a detection [M,4] with IoU >= ``threshold``
    (Hungarian assignment maximising IoU, ``scipy.optimize.linear_sum_assignment``)."""
    iou = iou_matrix(truth, detections)
    hit = np.zeros(iou.shape[0], dtype=bool)
    if iou.size:
        r, c = linear_sum_assignment(-iou)
        hit[r[iou[r, c] >= threshold]] = True
    return hit
