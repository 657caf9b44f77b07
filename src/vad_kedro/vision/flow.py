"""Dense optical flow per video, stored compactly.

Alignment rule (docs/architecture.md): ``flow[t]`` is the flow from frame t to frame t+1 for
t < T-1, and the last frame repeats the flow of T-2 -> T-1, so ``flow`` has exactly T entries.
A one-frame video gets zero flow. Vectors are in pixels of the working resolution even when the
grid is downsampled by ``downsample`` (grid h, w = H // s, W // s; area-averaged).

Methods: OpenCV DIS (Kroeger et al., "Fast Optical Flow using Dense Inverse Search", ECCV 2016;
default) and Farneback ("Two-Frame Motion Estimation Based on Polynomial Expansion", SCIA 2003).
"""

from __future__ import annotations

import cv2
import numpy as np

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_gray(frames: np.ndarray) -> np.ndarray:
    """uint8 [T,H,W,3] RGB (or [T,H,W] grey) -> uint8 [T,H,W] grey."""
    if frames.ndim == 3:
        return frames
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def flow_grid_shape(height: int, width: int, downsample: int) -> tuple[int, int]:
    """Grid of the stored flow for a working resolution and downsample factor."""
    s = max(int(downsample), 1)
    return max(height // s, 1), max(width // s, 1)


def _make_flow_fn(method: str, dis_preset: str, farneback: dict | None, dis_finest_scale: int | None = None,
                  dis_refinement_iterations: int | None = None):
    if method == "dis":
        if dis_preset not in DIS_PRESETS:
            raise ValueError(f"flow.dis_preset must be one of {sorted(DIS_PRESETS)}, got {dis_preset!r}")
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[dis_preset])
        if dis_finest_scale is not None:
            dis.setFinestScale(int(dis_finest_scale))
        if dis_refinement_iterations is not None:
            dis.setVariationalRefinementIterations(int(dis_refinement_iterations))
        return lambda a, b: dis.calc(a, b, None)
    if method == "farneback":
        fb = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2,
              "flags": 0, **(farneback or {})}
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, **fb)
    raise ValueError(f"flow.method must be 'dis' or 'farneback', got {method!r}")


def compute_flow(frames: np.ndarray, method: str = "dis", downsample: int = 2, dis_preset: str = "ultrafast",
                 dis_finest_scale: int | None = 1, dis_refinement_iterations: int | None = 0,
                 compute_scale: float = 1.0, farneback: dict | None = None,
                 dtype: str = "float16") -> np.ndarray:
    """Optical flow of one video: [T,h,w,2] (see module docstring for alignment and units).

    Args:
        frames: uint8 [T,H,W,3] RGB or [T,H,W] grey.
        method: ``dis`` (default) or ``farneback``.
        downsample: integer factor of the stored grid (1 = full resolution).
        dis_preset: DIS preset (``ultrafast``, ``fast``, ``medium``).
        dis_finest_scale: finest pyramid level DIS refines to (0 = full resolution; the presets stop
            at 2 (ultrafast / fast), i.e. quarter resolution, which loses small pedestrians; None = preset's).
        dis_refinement_iterations: DIS variational refinement iterations (0 = off: ~15 % faster, the
            same endpoint error on the benchmark's walkers; None = preset's).
        compute_scale: resize frames by this factor before computing (<1 is faster); vectors are
            rescaled to working-resolution pixels.
        farneback: keyword overrides for ``cv2.calcOpticalFlowFarneback``.
        dtype: storage dtype (float16 by default).
    """
    gray = to_gray(np.asarray(frames))
    t, height, width = gray.shape
    gh, gw = flow_grid_shape(height, width, downsample)
    out = np.zeros((t, gh, gw, 2), dtype=dtype)
    if t < 2:
        return out
    calc = _make_flow_fn(method, dis_preset, farneback, dis_finest_scale, dis_refinement_iterations)
    if compute_scale != 1.0:
        cw, ch = max(int(round(width * compute_scale)), 8), max(int(round(height * compute_scale)), 8)
        gray = np.stack([cv2.resize(g, (cw, ch), interpolation=cv2.INTER_AREA) for g in gray])
        vec_scale = np.array([width / cw, height / ch], dtype=np.float32)
    else:
        vec_scale = None
    prev = gray[0]
    for i in range(1, t):
        nxt = gray[i]
        f = calc(prev, nxt)
        if vec_scale is not None:
            f = f * vec_scale
        if f.shape[:2] != (gh, gw):
            f = cv2.resize(f, (gw, gh), interpolation=cv2.INTER_AREA)
        out[i - 1] = f
        prev = nxt
    out[t - 1] = out[t - 2]
    return out


def upsample_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a stored flow field [h,w,2] (or [T,h,w,2]) to the working resolution (float32).

    Values are already in working-resolution pixels, so only the grid is resized.
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim == 3:
        return cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in flow])
