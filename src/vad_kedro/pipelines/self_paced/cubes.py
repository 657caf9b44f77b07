"""Spatio-temporal cubes (STCs) of LBR-SPR, packed as arrays.

Yu et al., CVPR 2022 (arXiv 2108.01975), Sec. 3.1; reference code yuguangnudt/LBR_SPR
``vad_datasets.get_foreground`` and ``extract_stc.py``: the box of frame t is cropped from frames
t - c ... t + c with ceil-rounded coordinates and every crop is resized to ``patch`` x ``patch``.
Frames outside the video repeat the video's edge frame (a cube never mixes videos).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def crop_bounds(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """Ceil-rounded (x_min, x_max, y_min, y_max) slice bounds, at least one pixel, inside the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x_min = min(max(math.ceil(x1), 0), width - 1)
    y_min = min(max(math.ceil(y1), 0), height - 1)
    x_max = min(max(math.ceil(x2), x_min + 1), width)
    y_max = min(max(math.ceil(y2), y_min + 1), height)
    return x_min, x_max, y_min, y_max


def context_indices(t: int, n_frames: int, context: int) -> np.ndarray:
    """Frame indices t - c ... t + c clipped to [0, T - 1] (edge frames repeat)."""
    return np.clip(np.arange(t - context, t + context + 1), 0, n_frames - 1)


def block_of(boxes: np.ndarray, height: int, width: int, h_block: int = 1, w_block: int = 1) -> np.ndarray:
    """Block id (row-major over an ``h_block`` x ``w_block`` grid) of each box centre, int32 [n]."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2.0
    cy = (boxes[:, 1] + boxes[:, 3]) / 2.0
    row = np.clip(np.floor(cy / (height / h_block)), 0, h_block - 1).astype(np.int64)
    col = np.clip(np.floor(cx / (width / w_block)), 0, w_block - 1).astype(np.int64)
    return (row * w_block + col).astype(np.int32)


def _crop_resize(image: np.ndarray, bounds: tuple[int, int, int, int], patch: int) -> np.ndarray:
    x_min, x_max, y_min, y_max = bounds
    crop = image[y_min:y_max, x_min:x_max]
    out = cv2.resize(crop, (patch, patch), interpolation=cv2.INTER_LINEAR)
    if out.ndim == 2:
        out = out[..., None]
    return out


def video_cubes(
    frames: np.ndarray,
    frame_ids: np.ndarray,
    boxes: np.ndarray,
    context: int = 2,
    patch: int = 32,
    flow: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cubes of one video.

    Args:
        frames: uint8 [T, H, W, 3].
        frame_ids: int [n], the frame t of each box.
        boxes: float [n, 4] (x1, y1, x2, y2) in frame pixels.
        context: frames on each side (2 -> 5-frame cubes).
        patch: output side in pixels.
        flow: optional float32 [T, H, W, 2] at frame size (already unit-scaled).

    Returns:
        raw uint8 [n, 2c+1, patch, patch, 3] and flow float16 [n, 2c+1, patch, patch, 2] (or None).
    """
    n_frames, height, width = frames.shape[:3]
    n, length = len(frame_ids), 2 * context + 1
    raw = np.empty((n, length, patch, patch, frames.shape[3]), dtype=np.uint8)
    fl = None if flow is None else np.empty((n, length, patch, patch, 2), dtype=np.float16)
    for i, (t, box) in enumerate(zip(np.asarray(frame_ids), np.asarray(boxes).reshape(-1, 4), strict=True)):
        bounds = crop_bounds(box, height, width)
        for k, s in enumerate(context_indices(int(t), n_frames, context)):
            raw[i, k] = _crop_resize(frames[s], bounds, patch)
            if fl is not None:
                fl[i, k] = _crop_resize(flow[s], bounds, patch)
    return raw, fl


def cubes_to_input(raw: np.ndarray) -> np.ndarray:
    """uint8 [n, L, P, P, 3] -> float32 [n, 3L, P, P] in [0, 1], frame-major channels (L0 RGB, L1 RGB, ...)."""
    n, length, p, q, c = raw.shape
    x = np.ascontiguousarray(np.transpose(raw, (0, 1, 4, 2, 3))).reshape(n, length * c, p, q)
    return x.astype(np.float32) / 255.0


def flow_cubes_to_target(flow: np.ndarray) -> np.ndarray:
    """float16 [n, L, P, P, 2] -> float32 [n, 2L, P, P], raw (unscaled) values, frame-major channels."""
    n, length, p, q, c = flow.shape
    return np.ascontiguousarray(np.transpose(flow, (0, 1, 4, 2, 3))).reshape(n, length * c, p, q).astype(np.float32)
