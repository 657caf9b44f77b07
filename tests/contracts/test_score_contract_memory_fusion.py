"""Score contract of ``smaff`` and ``smaff_nopose`` (memory_fusion pipeline): ``create_pipeline()`` run in
memory on the memory_fusion fabricator (shared training stages on the normal train / val videos, one fusion
head and checkpoint per variant, then the scoring nodes from that checkpoint alone down to
``score_test_frames``, which writes ``<variant>.frame_scores``), with the configured scoring and the
memory_fusion tests' small model sizes."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vad_kedro.pipelines.memory_fusion import METHODS, create_pipeline

from ..pipelines.memory_fusion.conftest import make_dataset
from ..pipelines.memory_fusion.test_checkpoint_scoring import _params
from .checks import assert_one_score_per_frame, assert_peak_in_window, run_pipeline

REPO = Path(__file__).resolve().parents[2]
EVENT = (29, 34)   # inclusive: the first object of each test frame has a new appearance, 4x speed (and odd pose)


@pytest.fixture(scope="module")
def run():
    """60-frame videos (test_b 47 frames): the planted event is in the frames 29..34 of both test videos; and
    test_c, 25 frames without any object."""
    tracks, feats, index = make_dataset(n_frames=60, event=(EVENT[0], EVENT[1] + 1), lengths={"test_b": 47})
    tracks["test_c"] = lambda: tracks["test_a"]().iloc[:0]
    feats["test_c"] = lambda: {k: v[:0] for k, v in feats["test_a"]().items()}
    empty = index[index["video_id"] == "test_a"].assign(video_id="test_c", n_frames=25)
    index = pd.concat([index, empty], ignore_index=True)
    base = yaml.safe_load((REPO / "conf/base/parameters_memory_fusion.yml").read_text())["memory_fusion"]
    params = _params(standardize=base["standardize"])
    params["scoring"] = base["scoring"]
    out = run_pipeline(create_pipeline(), {"tracks": tracks, "object_features": feats, "video_index": index},
                       {"memory_fusion": params, "seed": 0, "device": "cpu", "deterministic": True})
    return params, index, out


@pytest.mark.parametrize("variant", METHODS)
def test_one_score_per_frame_and_peak_on_the_planted_objects(run, variant):
    """w = ceil(scoring.smooth_sigma) = 3 (configured sigma 3): a frame is scored from its own objects only,
    then the scores are Gaussian-smoothed per video with that sigma. Observed for the event in frames
    [29, 34]: peaks at 32 (test_a) and 33 (test_b) for smaff, 32 and 32 for smaff_nopose; the highest score
    outside frames 26..37 is 0.26-0.49 against 0.53-0.75 at the peak."""
    params, index, out = run
    scores = out[f"{variant}.frame_scores"]
    assert_one_score_per_frame(scores, index, variant)
    for vid in ("test_a", "test_b"):
        assert_peak_in_window(scores, vid, EVENT, math.ceil(params["scoring"]["smooth_sigma"]), variant)
