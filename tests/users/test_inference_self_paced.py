"""`kedro run --pipelines=inference` with the self_paced (LBR-SPR) methods on the smoke benchmark.

LBR-SPR is transductive: its autoencoders are trained on the unlabelled test pool. Inference applies the
trained autoencoders of ``lbr_spr.model`` to the cubes of the input video (boxes from the tracks and flow
that inference computes for it) and z-normalises their errors with the block statistics of the training
pool saved in the checkpoint, exactly as the pipeline scores its pool videos; smoothing is per video.
"""

from __future__ import annotations

import numpy as np
import pytest

from .inference_checks import check_outputs, run_inference

TRAIN_LBR_SPR = ["lbr.select_pool", "lbr.foreground_boxes", "lbr.build_stcs",
                 "lbr_spr.train", "lbr_spr.score_stcs", "lbr_spr.frame_scores"]


@pytest.fixture(scope="module")
def trained(smoke_project):
    """The smoke project with a trained ``lbr_spr`` checkpoint and the pipeline's own frame scores."""
    data = smoke_project.path / "data" / "smoke"
    done = ["06_models/lbr_spr/model.pt", "07_model_output/lbr_spr/frame_scores.parquet"]
    if not all((data / f).exists() for f in done):
        smoke_project.run("self_paced", node_names=TRAIN_LBR_SPR)
    return smoke_project


@pytest.mark.slow
def test_lbr_spr_outputs_and_scores_equal_the_pipeline(trained):
    """A test video of the pool, given as a frame folder, scores what the pipeline gave it.

    Nothing legitimately differs here: the pool statistics (mu_b, sigma_b) come from the checkpoint, the
    video's boxes and cubes are recomputed from the same frames, tracks and flow, and the moving average is
    per video (``smooth_across_videos: false``). What transductivity means for a *new* video is only that
    the autoencoders never trained on it, unlike on this pool video.
    """
    index = trained.load("video_index")
    tests = index[index["split"] == "test"]
    own_all = trained.load("lbr_spr.frame_scores")
    # the test video with the most anomalous-looking frame, so the comparison covers high scores too
    vid = own_all.loc[own_all["score"].idxmax(), "video_id"]
    video = tests[tests["video_id"] == vid].iloc[0]
    table, summary, result = run_inference(trained, video, "lbr_spr")
    check_outputs(table, summary, result, video)
    own = own_all[own_all["video_id"] == vid].sort_values("frame")
    np.testing.assert_allclose(table["score"], own["score"], atol=1e-5)
