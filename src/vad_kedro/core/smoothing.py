"""Temporal smoothing of frame scores, always within one video (never across video boundaries)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d, uniform_filter1d


def gaussian(scores: np.ndarray, sigma: float, mode: str = "reflect") -> np.ndarray:
    """Gaussian smoothing of one video's scores; sigma <= 0 returns a copy."""
    scores = np.asarray(scores, dtype=np.float64)
    if sigma <= 0 or len(scores) == 0:
        return scores.copy()
    return gaussian_filter1d(scores, sigma=sigma, mode=mode)


def moving_average(scores: np.ndarray, window: int, mode: str = "constant") -> np.ndarray:
    """Uniform moving average of one video's scores (``constant`` = zero padding, like np.convolve 'same')."""
    scores = np.asarray(scores, dtype=np.float64)
    if window <= 1 or len(scores) == 0:
        return scores.copy()
    return uniform_filter1d(scores, size=window, mode=mode)


def per_video(df: pd.DataFrame, fn, column: str = "score", **kwargs) -> pd.DataFrame:
    """Apply a 1-D smoothing ``fn`` to ``column`` of each video separately (frames sorted)."""
    out = df.sort_values(["video_id", "frame"]).copy()
    out[column] = out.groupby("video_id", sort=False)[column].transform(lambda s: fn(s.to_numpy(), **kwargs))
    return out
