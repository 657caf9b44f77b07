"""Metrics against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest

from vad_kedro.core import metrics as M
from vad_kedro.core import smoothing


def test_micro_auc_hand_computed():
    # positives 0.8, 0.4; negatives 0.1, 0.5: pairs (0.8>0.1, 0.8>0.5, 0.4>0.1, 0.4<0.5) -> 3/4
    assert M.micro_auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.4, 0.1, 0.5])) == pytest.approx(0.75)


def test_micro_auc_single_class_is_nan():
    assert math.isnan(M.micro_auc(np.ones(4), np.arange(4.0)))


def test_macro_auc_skips_all_anomalous_video_and_reports_it():
    df = pd.DataFrame({
        "video_id": ["a"] * 4 + ["b"] * 3,
        "label": [0, 0, 1, 1, 1, 1, 1],          # video b is all anomalous
        "score": [0.1, 0.2, 0.9, 0.15, 0.3, 0.2, 0.1],
    })
    value, skipped = M.macro_auc(df)
    # video a: positives 0.9, 0.15 vs negatives 0.1, 0.2 -> (1 + 1 + 1 + 0) / 4
    assert value == pytest.approx(0.75)
    assert skipped == ["b"]


def test_ap_matches_sklearn_and_pr_curve_auc_differs_for_constant_scores():
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    s = np.full(10, 0.5)
    p = y.mean()
    assert M.average_precision(y, s) == pytest.approx(p)
    assert M.pr_curve_auc(y, s) == pytest.approx((1 + p) / 2)


def test_per_type_auc_uses_all_normal_frames():
    df = pd.DataFrame({
        "label": [0, 0, 1, 1],
        "score": [0.1, 0.5, 0.9, 0.3],
        "anomaly_type": ["", "", "running", "falling"],
    })
    out = M.per_type_auc(df).set_index("anomaly_type")["auc"]
    assert out["running"] == pytest.approx(1.0)
    assert out["falling"] == pytest.approx(0.5)


def test_smoothing_never_crosses_videos():
    df = pd.DataFrame({"video_id": ["a"] * 5 + ["b"] * 5, "frame": list(range(5)) * 2,
                       "score": [0, 0, 0, 0, 0, 10, 10, 10, 10, 10.0]})
    out = smoothing.per_video(df, smoothing.gaussian, sigma=2.0)
    assert np.allclose(out[out.video_id == "a"]["score"], 0)
    assert np.allclose(out[out.video_id == "b"]["score"], 10)
    perturbed = df.copy()
    perturbed.loc[perturbed.video_id == "a", "score"] = [5, 1, 2, 3, 4]
    out2 = smoothing.per_video(perturbed, smoothing.gaussian, sigma=2.0)
    assert np.allclose(out2[out2.video_id == "b"]["score"], out[out.video_id == "b"]["score"])


def test_moving_average_zero_padded_like_numpy_same():
    x = np.array([1.0, 2, 3, 4, 5])
    ours = smoothing.moving_average(x, 3)
    ref = np.convolve(x, np.ones(3) / 3, mode="same")
    assert np.allclose(ours, ref)
