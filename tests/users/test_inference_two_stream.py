"""`kedro run --pipelines=inference` with the two_stream (CRKR) methods on the smoke benchmark.

Inference reruns two_stream's scoring nodes (``score_cr``, ``score_kr``, the method's frame-score node) on the
input video and three normal reference videos, with the checkpoints ``crkr_cr.model`` (STUNet, MLE settings, p*),
``crkr_kr.model`` (CR encoder, hash net, hash tables) and ``crkr.model`` (fusion weights).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vad_kedro.pipelines.inference.nodes import build_inference_index, inference_frames
from vad_kedro.pipelines.two_stream import nodes

from .inference_checks import check_outputs, first_test_video, run_inference

MODELS = ["crkr_cr", "crkr_kr", "crkr"]


@pytest.fixture(scope="module")
def trained(smoke_project):
    """The smoke project with trained CRKR checkpoints and the pipeline's own frame scores."""
    data = smoke_project.path / "data" / "smoke"
    done = [data / "06_models" / m / "model.pt" for m in MODELS] + [data / "07_model_output/crkr/frame_scores.parquet"]
    if not all(p.exists() for p in done):
        smoke_project.run("two_stream", tags=["two_stream"])   # the method nodes only (no evaluation)
    return smoke_project


@pytest.fixture(scope="module")
def video(trained) -> pd.Series:
    return first_test_video(trained)


@pytest.mark.slow
def test_crkr_outputs_and_scores_equal_the_pipeline(trained, video):
    table, summary, result = run_inference(trained, video, "crkr")
    check_outputs(table, summary, result, video)
    # Same frames, same checkpoints, per-video min-max: exactly the pipeline's fused score for this video
    # (crkr_cr and crkr_kr, also per-video min-maxed, run the same scoring nodes and are checked at node level
    # in tests/pipelines/two_stream/test_nodes.py).
    own = trained.load("crkr.frame_scores")
    own = own[own["video_id"] == video["video_id"]].sort_values("frame")
    np.testing.assert_allclose(table["score"], own["score"], atol=1e-5)


@pytest.mark.slow
def test_nominmax_rescales_over_the_inference_pool(trained, video, monkeypatch):
    """``crkr_nominmax`` min-maxes each stream once over *all videos scored together*: the test set in the
    pipeline, the input video and its reference videos in inference. So its scores legitimately differ
    from the pipeline's. The relation checked: both are ``fuse_scores`` of this video's own raw CR / KR
    scores (the pipeline's ``crkr_cr.patch_scores`` / ``crkr_kr.snippet_scores``), with the stream bounds
    taken over the test set (pipeline) or over this video and the reference videos (inference)."""
    table, _, _ = run_inference(trained, video, "crkr_nominmax")
    monkeypatch.chdir(trained.path)
    catalog, params = trained.catalog(), trained.params()
    index, vid = catalog.load("video_index"), video["video_id"]
    models = [catalog.load(f"{m}.model") for m in MODELS]
    cr_own, kr_own = catalog.load("crkr_cr.patch_scores"), catalog.load("crkr_kr.snippet_scores")
    # over the test set, fuse_scores of the stored raw scores is the pipeline's own crkr_nominmax ...
    own = nodes.nominmax_frame_scores(cr_own, kr_own, index[index["split"] == "test"], *models)
    own = own[own["video_id"] == vid]["score"].to_numpy()
    pipeline_own = catalog.load("crkr_nominmax.frame_scores")
    np.testing.assert_allclose(own, pipeline_own[pipeline_own["video_id"] == vid].sort_values("frame")["score"])
    # ... and over the inference pool (this video as "input" + the reference videos, scored here) inference's
    request = {"video_path": str(trained.path / video["source_path"]), "n_frames": int(video["n_frames"])}
    pool = build_inference_index(request, index, params["inference"])
    refs = pool[pool["video_id"] != "input"]
    frames = inference_frames(refs, catalog.load("frames"))
    cr = nodes.score_context_recovery(frames, refs, models[0], params["two_stream"], "cpu")
    kr = nodes.score_knowledge_retrieval(frames, refs, models[1], params["two_stream"], "cpu")
    cr["input"], kr["input"] = cr_own[vid], kr_own[vid]
    expected = nodes.nominmax_frame_scores(cr, kr, pool, *models)
    np.testing.assert_allclose(table["score"], expected[expected["video_id"] == "input"]["score"], atol=1e-5)
    assert not np.allclose(table["score"], own, atol=1e-5)   # other bounds: the scores really differ
