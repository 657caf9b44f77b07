"""Score contract of ``smaff`` and ``smaff_nopose`` (memory_fusion pipeline): the pipeline's training nodes
on the normal videos of the memory_fusion fabricator, then its scoring nodes from the reloaded checkpoint
alone (``collect_test_objects`` -> ``memorised_test_features`` -> ``test_frame_sets`` -> ``score_test_frames``,
the node that writes ``<variant>.frame_scores``)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from ..pipelines.memory_fusion.conftest import make_dataset
from ..pipelines.memory_fusion.test_checkpoint_scoring import _params, score, train_checkpoint
from .checks import assert_one_score_per_frame, assert_peak_in_window

REPO = Path(__file__).resolve().parents[2]
EVENT = (29, 34)   # inclusive: the first object of each test frame has a new appearance, 4x speed (and odd pose)


@pytest.fixture(scope="module")
def dataset():
    """60-frame videos (test_b 47 frames): the planted event is in the frames 29..34 of both test videos."""
    return make_dataset(n_frames=60, event=(EVENT[0], EVENT[1] + 1), lengths={"test_b": 47})


@pytest.mark.parametrize("variant", ["smaff", "smaff_nopose"])
def test_one_score_per_frame_and_peak_on_the_planted_objects(dataset, variant):
    """w = ceil(scoring.smooth_sigma) = 3 (configured sigma 3): a frame is scored from its own objects only,
    then the scores are Gaussian-smoothed per video with that sigma. Observed for the event in frames
    [29, 34]: peaks at 32 (test_a) and 33 (test_b) for smaff, 32 and 32 for smaff_nopose; the highest score
    outside frames 26..37 is 0.26-0.49 against 0.53-0.75 at the peak."""
    sigma = float(yaml.safe_load((REPO / "conf/base/parameters_memory_fusion.yml").read_text())
                  ["memory_fusion"]["scoring"]["smooth_sigma"])
    params = _params(standardize=True)
    params["scoring"]["smooth_sigma"] = sigma
    tracks, feats, index = dataset
    ck = train_checkpoint(dataset, params, variant)
    scores = score(ck, tracks, feats, index)
    assert_one_score_per_frame(scores, index, variant)
    for vid in ("test_a", "test_b"):
        assert_peak_in_window(scores, vid, EVENT, math.ceil(sigma), variant)
