"""Score contract of ``lbr_spr`` and ``lbr_norefine`` (self_paced pipeline): ``create_pipeline()`` run in memory
on fabricated moving-square videos (pool -> foreground boxes -> cubes -> one model per variant trained on the
unlabelled test pool, then ``score_videos`` -> ``scored_frames``, which writes ``<variant>.frame_scores``), with
the configured box, cube and scoring parameters and a tiny, briefly trained model."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vad_kedro.pipelines.self_paced import METHODS, create_pipeline

from ..pipelines.self_paced.conftest import moving_square_video, tiny_params  # noqa: F401 (a fixture)
from .checks import assert_one_score_per_frame, assert_peak_in_window, run_pipeline

REPO = Path(__file__).resolve().parents[2]
EVENT = (20, 25)   # inclusive: a white square crossing at 6 px/frame joins test_00's slow square
H, W = 48, 64


def _with_event(frames: np.ndarray, tracks: pd.DataFrame, flow: np.ndarray, a: int, b: int):
    """Add a second object (white 12-px square, 6 px/frame, its track and flow) in frames a..b."""
    frames, flow, rows = frames.copy(), flow.copy(), []
    y, size, speed = 4, 12, 6.0
    for t in range(a, b + 1):
        x = int(2 + speed * (t - a)) % (W - size)
        frames[t, y:y + size, x:x + size] = 255
        flow[t, y:y + size, x:x + size, 0] = speed
        rows.append((t, 1, x, y, x + size - 1, y + size - 1, 0.9))
    extra = pd.DataFrame(rows, columns=tracks.columns).astype(tracks.dtypes.to_dict())
    return frames, pd.concat([tracks, extra], ignore_index=True), flow


@pytest.fixture(scope="module")
def dataset():
    """A training video (not in the pool) and four test videos of different lengths with one slow red square
    each (test_00 has the planted event), and test_04, 20 frames of an empty scene (no box, no cube)."""
    lengths = {"train_00": 30, "test_00": 46, "test_01": 40, "test_02": 33, "test_03": 27, "test_04": 20}
    frames, tracks, flow, rows = {}, {}, {}, []
    for i, (vid, n) in enumerate(lengths.items()):
        f, tr, fl = moving_square_video(n, H, W, (200, 40, 40), 1.0 + 0.1 * i)
        if vid == "test_00":
            f, tr, fl = _with_event(f, tr, fl, *EVENT)
        if vid == "test_04":
            f, tr, fl = np.full_like(f, 60), tr.iloc[:0], np.zeros_like(fl)
        frames[vid], tracks[vid], flow[vid] = (lambda a=f: a), (lambda a=tr: a), (lambda a=fl: a)
        rows.append({"video_id": vid, "split": vid.split("_")[0], "n_frames": n, "height": H, "width": W,
                     "fps": 25.0, "source_path": "", "video_label": -1, "anomaly_types": ""})
    return frames, tracks, flow, pd.DataFrame(rows)


@pytest.fixture
def params(tiny_params) -> dict:  # noqa: F811 (the self_paced tests' fixture, imported above)
    """The configured boxes / cubes / scoring sections with the tests' tiny model and training."""
    base = yaml.safe_load((REPO / "conf/base/parameters_self_paced.yml").read_text())["self_paced"]
    p = copy.deepcopy(tiny_params)
    for key in ("mode", "boxes", "cubes", "scoring", "variants"):
        p[key] = copy.deepcopy(base[key])
    p["model"]["use_flow"] = base["model"]["use_flow"]
    return p


def test_one_score_per_frame_and_peak_on_the_planted_object(dataset, params):
    """w = cubes.context + smooth_window // 2 = 2 + 5 = 7 (configured): a frame's score is the max over the
    5-frame cubes (t - 2 .. t + 2) centred on it, then a 10-frame moving average per video. Observed for the
    event in frames [20, 25], both variants: a plateau of 4.2 over frames 21..25 (peak 21), -0.39 away from it;
    the other test videos stay below -0.08."""
    frames, tracks, flow, index = dataset
    w = int(params["cubes"]["context"]) + int(params["scoring"]["smooth_window"]) // 2
    out = run_pipeline(create_pipeline(), {"frames": frames, "tracks": tracks, "flow": flow, "video_index": index},
                       {"self_paced": params, "seed": 0, "device": "cpu", "deterministic": True})
    for variant in METHODS:
        scores = out[f"{variant}.frame_scores"]
        assert_one_score_per_frame(scores, index, variant)
        assert_peak_in_window(scores, "test_00", EVENT, w, variant)
