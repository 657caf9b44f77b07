"""End to end on the smoke benchmark: upstream + self_paced + shared evaluation (spec section 6)."""

import numpy as np
import pytest


@pytest.mark.slow
def test_self_paced_smoke_run(smoke_project):
    """Smoke micro AUC, seeds 42..46 (VAD_SEED_OFFSET 0..4), 1 thread: lbr_spr 0.640 0.631 0.630 0.637 0.635,
    lbr_norefine 0.642 0.631 0.630 0.637 0.635; 2 threads identical -> bar 0.58, 0.05 under the worst."""
    smoke_project.run("self_paced")
    index = smoke_project.load("video_index")
    tests = index[index["split"] == "test"]
    stcs = smoke_project.load("lbr.stcs")
    assert stcs["raw"].dtype == np.uint8 and stcs["raw"].shape[1:] == (5, 32, 32, 3)
    # the partial pool holds exactly the test videos: no training video, no label
    assert sorted(stcs["videos"].tolist()) == sorted(tests["video_id"])
    for method in ("lbr_spr", "lbr_norefine"):
        scores = smoke_project.load(f"{method}.frame_scores")
        assert len(scores) == int(tests["n_frames"].sum())
        assert set(scores["video_id"]) == set(tests["video_id"])
        assert np.isfinite(scores["score"]).all()
        ckpt = smoke_project.load(f"{method}.model")
        assert "block0" in ckpt["blocks"] and ckpt["config"]["refine"] == (method == "lbr_spr")
        metrics = smoke_project.load(f"{method}.metrics")
        assert metrics["micro_auc"] > 0.58, (method, metrics)
