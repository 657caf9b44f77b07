"""Score alignment and two-stream fusion of CRKR (Cao, Lu & Zhang, IEEE TIP 2024; reference
``metrics.py`` / ``6-two_stream_fuse_score.py``), always per video:

1. min-max normalise each stream (per video; transductive, as the reference),
2. zero-pad to the video length (CR: ``n_context * interval`` zeros in front; KR: ``len//2 * itv`` in front,
   the rest behind),
3. Gaussian smoothing with sigma = slen * itv / 2, mode ``constant`` (CR slen = 9 incl. the target, itv 2
   -> 9; KR slen 8, itv 8 -> 32),
4. fused = w_cr * CR + w_kr * KR.
"""

from __future__ import annotations

import numpy as np

from vad_kedro.core import smoothing


def minmax(scores: np.ndarray) -> np.ndarray:
    """(s - min) / (max - min); zeros for a constant (or empty) score vector."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return s.copy()
    rng = s.max() - s.min()
    return (s - s.min()) / rng if rng > 0 else np.zeros_like(s)


def align(scores: np.ndarray, n_frames: int, front: int) -> np.ndarray:
    """Place ``scores`` at frame offset ``front`` in a zero vector of length ``n_frames`` (the reference's
    zero padding). An empty score vector (video shorter than the stream's window) gives all zeros.
    """
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return np.zeros(n_frames)
    if front + len(s) > n_frames:
        raise ValueError(f"two_stream: {len(s)} scores at offset {front} do not fit in {n_frames} frames")
    out = np.zeros(n_frames)
    out[front : front + len(s)] = s
    return out


def expand(scores: np.ndarray, n_frames: int, repeat: int) -> np.ndarray:
    """Repeat per-snippet scores ``repeat`` times and cut to ``n_frames`` (16-frame snippet features)."""
    s = np.repeat(np.asarray(scores, dtype=np.float64), repeat)[:n_frames]
    if len(s) < n_frames:
        s = np.r_[s, np.full(n_frames - len(s), s[-1] if len(s) else 0.0)]
    return s


def stream_to_frames(scores: np.ndarray, n_frames: int, front: int, sigma: float, normalise: bool = True,
                     repeat: int = 1) -> np.ndarray:
    """One stream of one video -> [T] frame scores: per-video min-max (unless ``normalise`` is False, for
    scores already scaled), zero-pad to T (or repeat per-snippet rows), Gaussian smoothing (constant mode)."""
    s = minmax(scores) if normalise else np.asarray(scores, dtype=np.float64)
    s = expand(s, n_frames, repeat) if repeat > 1 else align(s, n_frames, front)
    return smoothing.gaussian(s, sigma, mode="constant")


def fuse(cr: np.ndarray, kr: np.ndarray, w_cr: float = 1.0, w_kr: float = 1.0) -> np.ndarray:
    """Weighted sum of the two aligned, smoothed streams (no further smoothing)."""
    return w_cr * np.asarray(cr) + w_kr * np.asarray(kr)
