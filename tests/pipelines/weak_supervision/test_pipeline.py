"""End to end on the smoke benchmark: `kedro run --env=smoke --pipelines=weak_supervision`."""

from __future__ import annotations

import numpy as np
import pytest

from vad_kedro.pipelines.weak_supervision import METHODS


@pytest.mark.slow
def test_weak_supervision_smoke_run(smoke_project):
    smoke_project.run("weak_supervision")
    index = smoke_project.load("video_index")
    tests = index[index.split == "test"].set_index("video_id")["n_frames"]
    params = smoke_project.params()["weak_supervision"]
    for method in METHODS:
        scores = smoke_project.load(f"{method}.frame_scores")
        n_seeds = params[method]["n_seeds"]
        assert set(scores.columns) >= {"video_id", "frame", "score", "seed"}
        assert scores["seed"].nunique() == n_seeds
        # one row per frame of every test video, per seed
        counts = scores.groupby(["seed", "video_id"]).size().unstack(0)
        assert set(counts.index) == set(tests.index)
        np.testing.assert_array_equal(counts.to_numpy(), np.repeat(tests.loc[counts.index].to_numpy()[:, None],
                                                                   n_seeds, axis=1))
        assert np.isfinite(scores["score"]).all()
        model = smoke_project.load(f"{method}.model")  # torch.load(weights_only=True)
        assert model["method"] == method and len(model["seeds"]) == n_seeds
        metrics = smoke_project.load(f"{method}.metrics")
        assert 0.0 <= metrics["micro_auc"] <= 1.0
