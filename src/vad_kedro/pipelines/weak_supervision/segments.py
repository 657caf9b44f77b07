"""Temporal segmentation of snippet features into a fixed number of segments (spec §3.5).

- :func:`pool_segments` — RTFM / MGFN / MIL ``process_feat``: r = ⌊linspace(0, T, n+1)⌋, segment
  i = mean(x[r_i:r_{i+1}]), or x[r_i] when that range is empty (T < n).
- :func:`interpolate_segments` — S3R: ``cv2.resize`` with INTER_LINEAR along time, i.e. source
  coordinate (i + ½)·T/n − ½ clamped to [0, T − 1] (OpenCV does the arithmetic).
"""

from __future__ import annotations

import cv2
import numpy as np


def segment_bounds(t: int, n: int = 32) -> np.ndarray:
    """The n + 1 integer boundaries ⌊linspace(0, T, n + 1)⌋ of the reference ``process_feat``."""
    return np.linspace(0, t, n + 1).astype(np.int64)


def pool_segments(x: np.ndarray, n: int = 32) -> np.ndarray:
    """Mean-pool (T, ...) features into (n, ...) segments exactly like ``process_feat``.

    Uses ``np.mean`` over each range on axis 0, the reference's own reduction, so the result is
    bit-identical to the per-crop reference loop; an empty range (T < n) takes x[r_i].
    """
    x = np.asarray(x, dtype=np.float32)
    if x.shape[0] == 0:
        raise ValueError("cannot segment an empty feature array")
    r = segment_bounds(x.shape[0], n)
    out = np.empty((n, *x.shape[1:]), dtype=np.float32)
    for i in range(n):
        out[i] = x[r[i]: r[i + 1]].mean(0) if r[i + 1] > r[i] else x[r[i]]
    return out


def interpolate_segments(x: np.ndarray, n: int = 32) -> np.ndarray:
    """Linearly resample (T, N, C) features to (n, N, C) along time as S3R does with ``cv2.resize``.

    The reference transposes to a (C, T, N) "image" (N crops as channels, at most 512) and resizes
    its width to n; only the time axis changes.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"expected (T, N, C) features, got shape {x.shape}")
    t, n_crops, c = x.shape
    img = np.ascontiguousarray(x.transpose(2, 0, 1))  # (C, T, N)
    out = cv2.resize(img, (n, c), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(out.reshape(c, n, n_crops).transpose(1, 2, 0))


def segment(x: np.ndarray, n: int = 32, mode: str = "pool") -> np.ndarray:
    """(T, N, C) -> (n, N, C) with ``mode`` ``pool`` (RTFM, MGFN, MIL) or ``interpolate`` (S3R)."""
    if mode == "pool":
        return pool_segments(x, n)
    if mode == "interpolate":
        return interpolate_segments(x, n)
    raise ValueError(f"segmentation must be 'pool' or 'interpolate', got {mode!r}")
