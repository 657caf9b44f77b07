"""`kedro run --pipelines=inference` end to end on the smoke benchmark with trained SMAFF (`memory_fusion`) models.

SMAFF scores every object of a frame from the checkpoint (PCA, autoencoder, feature statistics, memory items,
fusion head) and smooths per video, so a video's scores do not depend on the other videos scored with it.
``smaff_nopose`` therefore gives the pipeline's own test scores. ``smaff`` also reads pose, which comes from
the dataset's AlphaPose files: a user's clip (split test, label -1 in inference's index) has none, so its
objects take the mean training pose. Its inference scores equal the pipeline's scoring of the same video
with its pose removed (asserted below), not the pipeline's own scores with the annotated pose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vad_kedro.pipelines import memory_fusion
from vad_kedro.pipelines.memory_fusion import nodes as N

from .inference_checks import check_outputs, first_test_video, run_inference
from .object_overlay import check_top_boxes_drawn, write_outputs_inputs

SMAFF_NODES = [n.name for n in memory_fusion.create_pipeline().nodes]


@pytest.fixture(scope="module")
def trained(smoke_project):
    """The smoke project with trained ``smaff`` / ``smaff_nopose`` checkpoints and their own test scores."""
    data = smoke_project.path / "data" / "smoke"
    done = [data / d / m / f for m in memory_fusion.METHODS
            for d, f in (("06_models", "model.pt"), ("07_model_output", "frame_scores.parquet"))]
    if not all(p.exists() for p in done):
        smoke_project.run("memory_fusion", node_names=SMAFF_NODES)
    return smoke_project


@pytest.fixture(scope="module")
def video(trained) -> pd.Series:
    return first_test_video(trained)


def _own(project, method: str, video_id: str) -> np.ndarray:
    own = project.load(f"{method}.frame_scores")
    return own[own["video_id"] == video_id].sort_values("frame")["score"].to_numpy()


def _score_stored(project, model, video: pd.Series, drop_pose: bool) -> np.ndarray:
    """The pipeline's scoring nodes on the project's stored tracks / object features of ``video``."""
    feats = project.load("object_features")
    vid = video["video_id"]
    if drop_pose:
        feats = {vid: lambda f=feats[vid]: {k: v for k, v in f().items() if k != "pose"}}
    index = project.load("video_index")
    objects = N.collect_test_objects(project.load("tracks"), feats, index[index["video_id"] == vid], model)
    scores = N.score_test_frames(model, N.memorised_test_features(objects, model), N.test_frame_sets(objects, model),
                                 "cpu")
    return scores.sort_values("frame")["score"].to_numpy()


@pytest.mark.slow
def test_smaff_nopose_scores_equal_the_pipeline(trained, video):
    table, summary, result = run_inference(trained, video, "smaff_nopose")
    check_outputs(table, summary, result, video)
    np.testing.assert_allclose(table["score"], _own(trained, "smaff_nopose", video["video_id"]), rtol=1e-5, atol=1e-6)
    # object-level: the overlay draws the boxes of the top-scoring objects
    assert "inference.tracks" in write_outputs_inputs(trained)
    check_top_boxes_drawn(trained, result, video, trained.params()["inference"])


@pytest.mark.slow
def test_smaff_scores_a_clip_without_pose_with_the_mean_training_pose(trained, video):
    table, summary, result = run_inference(trained, video, "smaff")
    check_outputs(table, summary, result, video)
    model = trained.load("smaff.model")
    assert "pose" in model["modalities"]   # the smoke benchmark has pose
    own = _own(trained, "smaff", video["video_id"])
    np.testing.assert_allclose(_score_stored(trained, model, video, drop_pose=False), own, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table["score"], _score_stored(trained, model, video, drop_pose=True),
                               rtol=1e-5, atol=1e-6)
