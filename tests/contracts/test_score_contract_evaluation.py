"""Score contract of ``motion_baseline`` (evaluation pipeline): ``create_baseline_pipeline()`` (the node
``motion_baseline.score_frames`` that writes ``motion_baseline.frame_scores``) run in memory on fabricated
moving-blob videos (the two_stream fabricator) with the configured ``evaluation.baseline`` parameters."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import yaml

from vad_kedro.pipelines.evaluation.pipeline import create_baseline_pipeline

from ..pipelines.two_stream.conftest import blob_video
from .checks import assert_one_score_per_frame, assert_peak_in_window, run_pipeline

REPO = Path(__file__).resolve().parents[2]
EVENT = (30, 37)   # frames of the fast blob (inclusive)


def _baseline_params() -> dict:
    return yaml.safe_load((REPO / "conf/base/parameters.yml").read_text())["evaluation"]["baseline"]


def _videos():
    """Test videos of different lengths (one with a blob crossing at 4.5 px/frame in EVENT) and a training
    video the baseline must not score."""
    specs = {"train_00": (40, None), "test_00": (60, "fast"), "test_01": (45, None), "test_02": (16, None)}
    frames, rows = {}, []
    for i, (vid, (n, anomaly)) in enumerate(specs.items()):
        f, _ = blob_video(300 + i, n, anomaly=anomaly, window=(EVENT[0], EVENT[1] + 1))
        frames[vid] = lambda f=f: f
        rows.append((vid, vid.split("_")[0], n, int(anomaly is not None)))
    return frames, pd.DataFrame(rows, columns=["video_id", "split", "n_frames", "video_label"])


def test_motion_baseline_one_score_per_frame_and_peak_on_the_planted_motion():
    """w = 1 + ceil(smooth_sigma) = 4 with the configured sigma 3: a frame's motion energy is its difference to
    the previous frame (the blob's exit shows one frame after the event), and the per-video Gaussian
    smoothing (sigma frames) spreads the plateau by about sigma. Observed: peak at frame 32 for the event in
    frames [30, 37]."""
    baseline = _baseline_params()
    w = 1 + math.ceil(float(baseline["smooth_sigma"]))
    frames, index = _videos()
    out = run_pipeline(create_baseline_pipeline(), {"frames": frames, "video_index": index},
                       {"evaluation": {"baseline": baseline}})
    scores = out["motion_baseline.frame_scores"]
    assert_one_score_per_frame(scores, index, "motion_baseline")
    assert_peak_in_window(scores, "test_00", EVENT, w, "motion_baseline")
