"""Score contract of ``lpg`` (state_machine pipeline): ``create_pipeline()`` run in memory on fabricated sprite
videos (training on the normal training videos, ``lpg.model``, then the scoring nodes from the model alone down
to ``fuse_with_model``, which writes ``lpg.frame_scores``), with the configured window, scoring and fusion
parameters and the state_machine tests' smaller crops, encoder and epochs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vad_kedro.pipelines.state_machine import create_pipeline

from ..pipelines.state_machine.fabricate import loaders, make_dataset, make_video, normal_sprite
from ..pipelines.state_machine.test_end_to_end import _params, score_with_model
from .checks import assert_one_score_per_frame, assert_peak_in_window, run_pipeline

EVENT = (40, 47)   # inclusive: a walking sprite turns bright yellow and runs at 3 px/frame (5x its speed)
SIZE = 64


def _test_videos(rng: np.random.Generator) -> dict[str, tuple]:
    """Three test videos of different lengths with two walking sprites each (test_00 adds the planted burst)
    and test_03, 50 frames without any track."""
    videos = {}
    for vid, n in (("test_00", 90), ("test_01", 70), ("test_02", 45), ("test_03", 50)):
        sprites = [normal_sprite(rng, SIZE, lane) for lane in range(2)] if vid != "test_03" else []
        if vid == "test_00":
            sprites.append({**normal_sprite(rng, SIZE, 2), "x0": 0.0, "vx": 0.6,
                            "burst": (EVENT[0], EVENT[1], 3.0), "burst_color": (240, 220, 0)})
        videos[vid] = make_video(rng, n, SIZE, sprites)
    return videos


@pytest.fixture(scope="module")
def trained():
    """Six 80-frame normal training videos of the state_machine fabricator, the three test videos above."""
    frames, tracks, flow, index, _ = make_dataset(seed=1, n_test=0, n_frames=80)
    rows = []
    for vid, (f, tr, fl, _) in _test_videos(np.random.default_rng(5)).items():
        frames[vid], tracks[vid], flow[vid] = f, tr, fl
        rows.append({**index.iloc[0].to_dict(), "video_id": vid, "split": "test", "n_frames": len(f),
                     "video_label": int(vid == "test_00"), "source_path": f"/x/{vid}"})
    index = pd.concat([index, pd.DataFrame(rows)], ignore_index=True)
    data = {"frames": loaders(frames), "tracks": loaders(tracks), "flow": loaders(flow), "video_index": index}
    out = run_pipeline(create_pipeline(), data, {"state_machine": _params(), "dataset": {"root": "."}, "seed": 0,
                                                 "device": "cpu", "deterministic": True}, keep=("lpg.model",))
    return out["lpg.frame_scores"], out["lpg.model"], (data["frames"], data["tracks"], data["flow"]), index


def _window(params: dict) -> int:
    offset = int(params["scoring"]["score_offset"])
    return max(offset, int(params["windows"]["length"]) - 1 - offset)


def test_lpg_one_score_per_frame_and_peak_on_the_planted_burst(trained):
    """w = max(score_offset, windows.length - 1 - score_offset) = 17 (configured length 34, offset 17): a
    window of 34 track observations is scored at its start + 17, so a window that sees any frame of the event
    lands up to 16 frames before it or 17 after it; the motion fusion (configured weight 1) adds the per-frame
    box speed; the cumulative Gaussian smoothing (sigmas 1..6) is symmetric. Observed for the event in frames
    [40, 47]: peak at 45 (28.97; the other test videos stay below 0)."""
    scores, model, _, index = trained
    assert model["params"]["motion_fusion"]["weight"] > 0
    assert_one_score_per_frame(scores, index, "lpg")
    assert_peak_in_window(scores, "test_00", EVENT, _window(model["params"]), "lpg")


def test_lpg_state_machine_score_alone_peaks_on_the_planted_burst(trained):
    """The same from the State Machine Module alone (``motion_fusion.weight: 0``, the paper's score), so the
    window placement is checked without the per-frame speed term. Same w = 17. Observed: peak at 49 (6.82;
    test_01 and test_02 stay below 2.1)."""
    _, model, (f, t, fl), index = trained
    smm_only = {**model, "params": {**model["params"], "motion_fusion": {"weight": 0.0}}}
    scores = score_with_model(smm_only, f, t, fl, index)
    assert_one_score_per_frame(scores, index, "lpg")
    assert_peak_in_window(scores, "test_00", EVENT, _window(model["params"]), "lpg")
