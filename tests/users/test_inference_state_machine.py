"""`kedro run --pipelines=inference` end to end on the smoke benchmark with a trained LPG (`state_machine`) model.

LPG fills the frames no window is centred on with ``empty_fill: min``, the lowest scored value over the
scored *pool* of videos. The pipeline's pool is every test video; inference's pool is the user's video plus
the normal reference videos. So the inference scores equal the pipeline's scoring of the same video in
inference's pool (asserted below), and they equal the pipeline's own test scores once the fill is a number
(asserted too): the pool enters the scores through that fill only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vad_kedro.pipelines import state_machine
from vad_kedro.pipelines.inference import nodes as inference_nodes

from ..pipelines.state_machine.test_end_to_end import score_with_model
from .inference_checks import check_outputs, run_inference
from .object_overlay import check_top_boxes_drawn, write_outputs_inputs

LPG_NODES = [n.name for n in state_machine.create_pipeline().nodes]


@pytest.fixture(scope="module")
def trained(smoke_project):
    """The smoke project with a trained ``lpg`` model and its own test scores (trained here unless an earlier
    test did)."""
    root = smoke_project.path / "data" / "smoke"
    if not ((root / "06_models" / "lpg" / "model.pt").exists() and
            (root / "07_model_output" / "lpg" / "frame_scores.parquet").exists()):
        smoke_project.run("state_machine", node_names=LPG_NODES)
    return smoke_project


def _pool_scores(project, model, video_ids: list[str]) -> pd.DataFrame:
    """The pipeline's scoring nodes on the project's stored per-video data of ``video_ids`` (as test videos)."""
    index = project.load("video_index")
    pool = index[index["video_id"].isin(video_ids)].assign(split="test")
    return score_with_model(model, project.load("frames"), project.load("tracks"), project.load("flow"), pool)


def _of(scores: pd.DataFrame, video_id: str) -> np.ndarray:
    return scores[scores["video_id"] == video_id].sort_values("frame")["score"].to_numpy()


@pytest.mark.slow
def test_lpg_scores_a_frame_folder(trained):
    index = trained.load("video_index")
    video = index[index["split"] == "test"].iloc[0]
    table, summary, result = run_inference(trained, video, "lpg")
    check_outputs(table, summary, result, video)

    model = trained.load("lpg.model")
    params = trained.params()
    request = {"video_path": str(trained.path / video["source_path"]), "n_frames": int(video["n_frames"])}
    refs = inference_nodes.build_inference_index(request, index, params["inference"])["video_id"].tolist()[1:]
    pool = [str(video["video_id"]), *refs]
    # the inference scores = the pipeline's scoring of this video in inference's pool (input + references)
    np.testing.assert_allclose(table["score"], _of(_pool_scores(trained, model, pool), video["video_id"]),
                               rtol=1e-4, atol=1e-4)
    # ... and the pipeline's own test scores are that scoring in the pool of every test video
    test_ids = index.loc[index["split"] == "test", "video_id"].tolist()
    own = trained.load("lpg.frame_scores")
    np.testing.assert_allclose(_of(_pool_scores(trained, model, test_ids), video["video_id"]),
                               _of(own, video["video_id"]), rtol=1e-5, atol=1e-5)
    # the pools differ only through empty_fill = min: with a fixed fill both pools give the same scores
    fixed = {**model, "params": {**model["params"], "scoring": {**model["params"]["scoring"], "empty_fill": -1.0}}}
    np.testing.assert_allclose(_of(_pool_scores(trained, fixed, pool), video["video_id"]),
                               _of(_pool_scores(trained, fixed, test_ids), video["video_id"]), rtol=1e-4, atol=1e-4)

    # object-level: the overlay draws the boxes of the top-scoring objects
    assert "inference.tracks" in write_outputs_inputs(trained)
    check_top_boxes_drawn(trained, result, video, params["inference"])
