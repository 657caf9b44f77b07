"""Foreground localisation of LBR-SPR: filtered detector boxes plus optical-flow motion boxes.

Yu et al., CVPR 2022 (arXiv 2108.01975), Sec. 3.1; reference code yuguangnudt/LBR_SPR
``fore_det/obj_det_with_motion.py`` (getObBboxes, delCoverBboxes, getOfBboxes). Areas follow the
reference's inclusive pixel convention (w + 1)(h + 1).
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_UNITS = ("native", "flownet_512x384")


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """(x2 - x1 + 1)(y2 - y1 + 1) of boxes [n, 4]."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)


def filter_detections(boxes: np.ndarray, scores: np.ndarray, score_threshold: float, min_area: float) -> np.ndarray:
    """Keep boxes with score > ``score_threshold`` and area >= ``min_area``; negative coordinates -> 0."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    keep = (scores > score_threshold) & (box_areas(boxes) >= min_area)
    out = boxes[keep].copy()
    out[out < 0] = 0
    return out


def remove_covered(boxes: np.ndarray, cover_threshold: float = 0.6) -> np.ndarray:
    """Drop a box when more than ``cover_threshold`` of its own area lies inside a larger box.

    Boxes are visited by ascending area; each is compared with the boxes after it (same or larger
    area). The order of the kept boxes is ascending area, as in the reference.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if len(boxes) < 2:
        return boxes.copy()
    areas = box_areas(boxes)
    order = np.argsort(areas, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    keep = []
    for rank, i in enumerate(order):
        rest = order[rank + 1 :]
        if rest.size:
            w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
            h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
            if np.any(w * h / areas[i] > cover_threshold):
                continue
        keep.append(i)
    return boxes[np.asarray(keep, dtype=np.int64)]


def flow_unit_scale(flow_units: str, height: int, width: int) -> tuple[float, float]:
    """Factors (sx, sy) applied to (u, v) in working-resolution pixels.

    ``flownet_512x384`` reproduces the reference, whose FlowNet2 ran on frames resized to 512x384 and
    whose vectors were resized back without rescaling; ``native`` keeps working-resolution pixels.
    """
    if flow_units == "native":
        return 1.0, 1.0
    if flow_units == "flownet_512x384":
        return 512.0 / width, 384.0 / height
    raise ValueError(f"flow_units must be one of {FLOW_UNITS}, got {flow_units!r}")


def flow_to_frame(flow: np.ndarray, height: int, width: int, scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """One flow field [h, w, 2] as float32 [height, width, 2], bilinearly resized and unit-scaled."""
    f = np.asarray(flow, dtype=np.float32)
    if f.shape[:2] != (height, width):
        f = cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR)
    if scale != (1.0, 1.0):
        f = f * np.asarray(scale, dtype=np.float32)
    return f


def motion_boxes(
    flow: np.ndarray,
    detector_boxes: np.ndarray,
    min_area: float,
    binary_threshold: float = 1.0,
    extend: int = 2,
    max_aspect_ratio: float = 10.0,
) -> np.ndarray:
    """Class-agnostic boxes around moving regions that no detector box explains.

    ``flow`` [H, W, 2] is at frame size, in the units the threshold expects. Steps: binary map
    u² + v² > ``binary_threshold``; zero every detector box grown by ``extend`` px; bounding rectangles
    of the external contours with (w + 1)(h + 1) > ``min_area`` and both aspect ratios <
    ``max_aspect_ratio``; each kept box grown by ``extend`` px (clipped to the frame).
    """
    height, width = flow.shape[:2]
    mag = np.square(flow[..., 0], dtype=np.float32) + np.square(flow[..., 1], dtype=np.float32)
    binary = (mag > binary_threshold).astype(np.uint8) * 255
    for b in np.asarray(detector_boxes).reshape(-1, 4).astype(np.int32):
        y1, y2 = max(0, b[1] - extend), min(b[3] + extend, height)
        x1, x2 = max(0, b[0] - extend), min(b[2] + extend, width)
        binary[y1 : y2 + 1, x1 : x2 + 1] = 0
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        if (w + 1) * (h + 1) > min_area and w / h < max_aspect_ratio and h / w < max_aspect_ratio:
            out.append([max(0, x - extend), max(0, y - extend), min(x + w + extend, width), min(y + h + extend, height)])
    return np.asarray(out, dtype=np.float32).reshape(-1, 4)


def resolve_min_area(min_area: float | None, min_side_fraction: float, height: int) -> float:
    """The area threshold A in px² of the working resolution.

    The paper's A (10² Ped1/Ped2 at 240 px height, 40² Avenue at 360 px, 30² ShanghaiTech at 480 px) is
    tied to each dataset's resolution; without an explicit ``min_area`` we use (fraction · H)².
    """
    if min_area is not None:
        return float(min_area)
    return float((min_side_fraction * height) ** 2)
