"""Pool selection, scoring rules, training node, wiring without labels, bad inputs, scoring from a checkpoint."""

import importlib

import numpy as np
import pandas as pd
import pytest
import torch

from vad_kedro.core.errors import DataError
from vad_kedro.io import TorchStateDataset
from vad_kedro.pipelines.inference.pipeline import scoring_part, unsupported_inputs
from vad_kedro.pipelines.self_paced import METHODS, create_pipeline
from vad_kedro.pipelines.self_paced.nodes import (
    box_scores,
    build_stcs,
    foreground_boxes,
    frame_scores,
    score_stcs,
    score_videos,
    scored_frames,
    select_pool,
    train_lbr,
)
from vad_kedro.pipelines.self_paced.training import block_stats, z_scores

LABEL_DATASETS = {"frame_labels", "pixel_masks"}


# ---------------------------------------------------------------- no label before evaluation
def test_no_node_reads_labels():
    pipe = create_pipeline()
    assert set(METHODS) == {"lbr_spr", "lbr_norefine"}
    for n in pipe.nodes:
        assert not LABEL_DATASETS & set(n.inputs), n.name
    assert {f"{m}.frame_scores" for m in METHODS} <= pipe.outputs()
    assert not LABEL_DATASETS & pipe.inputs()


def test_pool_ignores_video_labels(tiny_dataset, tiny_params):
    index = tiny_dataset[3]

    def pool(index, **change):
        return select_pool(index, {**tiny_params, **change})

    assert pool(index, mode="partial") == ["test_a", "test_b"]
    # the pool does not depend on (or even need) video labels
    assert pool(index.drop(columns=["video_label", "anomaly_types"]), mode="merge") == [
        "test_a", "test_b", "train_a"]
    with pytest.raises(ValueError, match="partial"):
        pool(index, mode="supervised")
    with pytest.raises(ValueError, match="merge_auc_includes_train"):
        pool(index, mode="merge", merge_auc_includes_train=True)
    with pytest.raises(DataError):
        pool(index[index["split"] != "test"], mode="partial")


# ---------------------------------------------------------------- scores
def test_z_normalisation_uses_block_statistics():
    sse = np.array([10.0, 12.0, 100.0, 110.0, 5.0])
    blocks = np.array([0, 0, 1, 1, 2])
    mu, sigma = np.array([11.0, 105.0, np.nan]), np.array([1.0, 5.0, np.nan])
    z = z_scores(sse, blocks, mu, sigma, empty_block_score=20.0)
    assert z.tolist() == [-1.0, 1.0, -1.0, 1.0, 20.0]  # block 2 has no training statistics
    assert block_stats(np.array([1.0, 3.0])) == (2.0, 1.0)
    assert block_stats(np.array([4.0])) == (4.0, 1.0)  # zero std -> 1


def _stcs(index_rows, videos, n_frames):
    return {"index": np.asarray(index_rows, np.int32).reshape(-1, 3), "videos": np.asarray(videos),
            "n_frames": np.asarray(n_frames, np.int32), "n_blocks": np.asarray(2)}


def test_score_stcs_reads_checkpoint_stats(tiny_params):
    stcs = _stcs([[0, 0, 0], [0, 1, 1]], ["test_a"], [2])
    ckpt = {"mu": torch.tensor([[1.0], [10.0]], dtype=torch.float64),
            "sigma": torch.tensor([[2.0], [5.0]], dtype=torch.float64)}
    z = score_stcs(ckpt, stcs, np.array([[5.0], [20.0]]), tiny_params)
    assert z.tolist() == [2.0, 2.0] and z.dtype == np.float32
    with pytest.raises(DataError):
        score_stcs(ckpt, stcs, np.array([[5.0]]), tiny_params)


def test_frame_score_is_max_and_empty_frames_score_minus_20(tiny_params):
    stcs = _stcs([[0, 0, 0], [0, 0, 0], [0, 2, 0], [1, 1, 0]], ["test_a", "test_b"], [4, 3])
    index = pd.DataFrame({"video_id": ["test_a", "test_b", "train_x"], "split": ["test", "test", "train"],
                          "n_frames": [4, 3, 9]})
    out = frame_scores(np.array([1.0, 3.0, -2.0, 7.0], np.float32), stcs, index, tiny_params)
    assert list(out.columns) == ["video_id", "frame", "score"]
    a = out[out.video_id == "test_a"]
    assert a["frame"].tolist() == [0, 1, 2, 3] and a["score"].tolist() == [3.0, -20.0, -2.0, -20.0]
    assert out[out.video_id == "test_b"]["score"].tolist() == [-20.0, 7.0, -20.0]
    assert "train_x" not in set(out.video_id)


def test_smoothing_is_per_video_unless_faithful_switch(tiny_params):
    stcs = _stcs([[0, t, 0] for t in range(4)] + [[1, t, 0] for t in range(4)], ["test_a", "test_b"], [4, 4])
    index = pd.DataFrame({"video_id": ["test_a", "test_b"], "split": "test", "n_frames": [4, 4]})
    scores = np.array([0, 0, 0, 0, 8, 8, 8, 8], np.float32)
    params = {**tiny_params, "scoring": {**tiny_params["scoring"], "smooth_window": 3}}
    per_video = frame_scores(scores, stcs, index, params)
    # zero-padded moving average inside each video: test_a stays 0 next to test_b's 8s
    assert per_video["score"].tolist()[:4] == [0, 0, 0, 0]
    assert per_video["score"].tolist()[4:] == pytest.approx([16 / 3, 8, 8, 16 / 3])
    params["scoring"]["smooth_across_videos"] = True
    across = frame_scores(scores, stcs, index, params)
    assert across["score"].tolist()[3] == pytest.approx(8 / 3)  # leaks across the boundary


# ---------------------------------------------------------------- boxes / cubes nodes and bad input
def test_foreground_boxes_and_cubes_on_fabricated_videos(tiny_dataset, tiny_params):
    frames, tracks, flow, index = tiny_dataset
    pool = select_pool(index, tiny_params)
    boxes = foreground_boxes(tracks, flow, index, pool, tiny_params)
    assert set(boxes.video_id) == {"test_a", "test_b"}
    assert (boxes.groupby("video_id").size() == index.set_index("video_id").loc[["test_a", "test_b"], "n_frames"]).all()
    assert set(boxes.source) == {"det"}  # all motion is inside the detector box
    # remove the detector boxes of test_b: the flow still finds the square
    tracks_nodet = {**tracks, "test_b": lambda: tracks["test_b"]().iloc[0:0]}
    boxes2 = foreground_boxes(tracks_nodet, flow, index, pool, tiny_params)
    assert set(boxes2[boxes2.video_id == "test_b"].source) == {"motion"}
    stcs = build_stcs(frames, flow, boxes, index, pool, tiny_params)
    assert len(stcs["raw"]) == len(boxes) and stcs["index"][:, 0].max() == 1


def test_bad_inputs(tiny_dataset, tiny_params):
    frames, tracks, flow, index = tiny_dataset
    pool = ["test_a"]
    bad_tracks = {"test_a": lambda: tracks["test_a"]().drop(columns=["score"])}
    with pytest.raises(DataError, match="score"):
        foreground_boxes(bad_tracks, flow, index, pool, tiny_params)
    with pytest.raises(DataError, match="flow shape"):
        foreground_boxes(tracks, {"test_a": lambda: flow["test_a"]()[:-1]}, index, pool, tiny_params)
    with pytest.raises(DataError, match="partition"):
        foreground_boxes({}, flow, index, pool, tiny_params)
    late = {"test_a": lambda: tracks["test_a"]().assign(frame=99)}
    with pytest.raises(DataError, match="outside"):
        foreground_boxes(late, flow, index, pool, tiny_params)
    boxes = foreground_boxes(tracks, flow, index, pool, tiny_params)
    with pytest.raises(DataError, match="video_index says"):
        build_stcs({"test_a": lambda: frames["test_a"]()[:5]}, flow, boxes, index, pool, tiny_params)


def test_video_without_boxes_scores_empty(tiny_dataset, tiny_params):
    frames, tracks, flow, index = tiny_dataset
    empty = pd.DataFrame(columns=["video_id", "frame", "x1", "y1", "x2", "y2", "source"])
    stcs = build_stcs(frames, flow, empty, index, ["test_a", "test_b"], tiny_params)
    assert stcs["raw"].shape == (0, 5, 32, 32, 3)
    ckpt, hist, sse = train_lbr(stcs, tiny_params, {"refine": True}, 0, "cpu")
    assert ckpt["blocks"] == {} and hist == {} and sse.shape == (0, 1)
    out = frame_scores(score_stcs(ckpt, stcs, sse, tiny_params), stcs, index, tiny_params)
    assert len(out) == 12 + 9 and (out.score == -20).all()


# ---------------------------------------------------------------- training node
def test_train_node_deterministic_and_checkpoint_roundtrip(tiny_dataset, tiny_params, tmp_path):
    frames, tracks, flow, index = tiny_dataset
    pool = select_pool(index, tiny_params)
    stcs = build_stcs(frames, flow, foreground_boxes(tracks, flow, index, pool, tiny_params), index, pool,
                      tiny_params)
    ckpt, hist, sse = train_lbr(stcs, tiny_params, {"refine": True}, 3, "cpu")
    ckpt2, _, sse2 = train_lbr(stcs, tiny_params, {"refine": True}, 3, "cpu")
    np.testing.assert_array_equal(sse, sse2)  # same seed, bit-identical CPU scores
    assert sse.shape == (len(stcs["raw"]), 1)
    assert set(hist) >= {"loss", "mean_weight"} and hist["loss"][0]["step"] == 0 and len(hist["loss"]) == 2
    mu, sigma = ckpt["mu"].numpy(), ckpt["sigma"].numpy()
    assert mu[0, 0] == pytest.approx(sse.mean()) and sigma[0, 0] == pytest.approx(sse.std())
    z = score_stcs(ckpt, stcs, sse, tiny_params)
    assert z.mean() == pytest.approx(0.0, abs=1e-5)
    ds = TorchStateDataset(str(tmp_path / "model.pt"))
    ds.save(ckpt)
    loaded = ds.load()
    assert set(loaded["blocks"]["block0"]["raw"]) == set(ckpt["blocks"]["block0"]["raw"])
    np.testing.assert_array_equal(score_stcs(loaded, stcs, sse, tiny_params), z)
    _, _, sse_plain = train_lbr(stcs, tiny_params, {"refine": False}, 3, "cpu")
    assert not np.array_equal(sse, sse_plain)  # refinement changes training after warm-up


def test_block_without_training_cubes_is_logged(tiny_dataset, tiny_params, caplog):
    frames, tracks, flow, index = tiny_dataset
    params = {**tiny_params, "cubes": {**tiny_params["cubes"], "h_block": 4}}
    pool = ["test_a"]
    stcs = build_stcs(frames, flow, foreground_boxes(tracks, flow, index, pool, params), index, pool, params)
    assert set(stcs["index"][:, 2]) == {1}  # the square moves along the middle band (rows 12..23 of 48)
    with caplog.at_level("WARNING"):
        ckpt, _, sse = train_lbr(stcs, params, {"refine": False}, 0, "cpu")
    assert "block 0 has no training cube" in caplog.text
    assert set(ckpt["blocks"]) == {"block1"} and np.isnan(ckpt["mu"][0, 0].item())
    z = score_stcs(ckpt, stcs, sse, params)
    assert np.isfinite(z).all() and z.max() < 20
    # a cube that falls in a block without statistics scores the empty-block value
    assert z_scores(np.array([1.0]), np.array([0]), ckpt["mu"][:, 0].numpy(), ckpt["sigma"][:, 0].numpy()).item() == 20


def test_motion_enhancement_branch(tiny_dataset, tiny_params):
    frames, tracks, flow, index = tiny_dataset
    params = {**tiny_params, "model": {**tiny_params["model"], "use_flow": True},
              "train": {**tiny_params["train"], "epochs": 1}}
    pool = ["test_b"]
    stcs = build_stcs(frames, flow, foreground_boxes(tracks, flow, index, pool, params), index, pool, params)
    assert stcs["flow"].shape == (9, 5, 32, 32, 2) and stcs["flow"].max() == pytest.approx(2.0)
    ckpt, hist, sse = train_lbr(stcs, params, {"refine": True}, 0, "cpu")
    assert sse.shape == (9, 2) and set(ckpt["blocks"]["block0"]) == {"raw", "flow"} and "loss_of" in hist
    z = score_stcs(ckpt, stcs, sse, params)
    z_raw = (sse[:, 0] - ckpt["mu"][0, 0].item()) / ckpt["sigma"][0, 0].item()
    z_of = (sse[:, 1] - ckpt["mu"][0, 1].item()) / ckpt["sigma"][0, 1].item()
    np.testing.assert_allclose(z, 0.5 * z_raw + 1.0 * z_of, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- scoring from the checkpoint (inference)
@pytest.mark.parametrize("use_flow", [False, True])
def test_checkpoint_scores_new_videos_like_the_pool(tiny_dataset, tiny_params, tmp_path, use_flow):
    """score_videos recomputes boxes, cubes and errors from frames / tracks / flow and the checkpoint alone:
    on the pool's test videos it gives the training node's pool scores, whatever the parameters say now."""
    frames, tracks, flow, index = tiny_dataset
    params = {**tiny_params, "model": {**tiny_params["model"], "use_flow": use_flow},
              "scoring": {**tiny_params["scoring"], "smooth_window": 3}}
    pool = select_pool(index, params)
    stcs = build_stcs(frames, flow, foreground_boxes(tracks, flow, index, pool, params), index, pool, params)
    ckpt, _, sse = train_lbr(stcs, params, {"refine": True}, 1, "cpu")
    assert ckpt["params"]["cubes"] == params["cubes"] and ckpt["params"]["model"]["use_flow"] == use_flow
    ds = TorchStateDataset(str(tmp_path / "model.pt"))
    ds.save(ckpt)
    loaded = ds.load()
    changed = {**params, "boxes": {**params["boxes"], "min_area": 400}, "cubes": {**params["cubes"], "h_block": 4},
               "model": {**params["model"], "w_raw": 7.0}, "scoring": {**params["scoring"], "smooth_window": 1}}
    out = score_videos(frames, tracks, flow, index, loaded, changed, "cpu")
    assert out["videos"].tolist() == pool and (out["index"] == stcs["index"]).all()
    np.testing.assert_allclose(out["score"], score_stcs(ckpt, stcs, sse, params), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scored_frames(out, index, loaded)["score"],
                               frame_scores(score_stcs(ckpt, stcs, sse, params), stcs, index, params)["score"],
                               rtol=1e-5, atol=1e-5)
    # a "new" video (scored alone, as in inference): its cubes score the same
    alone = score_videos(frames, tracks, flow, index[index.video_id != "test_a"], loaded, changed, "cpu")
    sel = stcs["index"][:, 0] == pool.index("test_b")
    np.testing.assert_allclose(alone["score"], score_stcs(ckpt, stcs, sse, params)[sel], rtol=1e-5, atol=1e-5)


def test_scoring_part_reads_only_per_video_data_and_models():
    part = scoring_part(importlib.import_module("vad_kedro.pipelines.self_paced"))
    assert {n.name for n in part.nodes} == {f"{m}.{s}" for m in METHODS for s in ("score_stcs", "frame_scores")}
    assert unsupported_inputs(part) == set()


def test_old_checkpoint_without_parameters_is_refused(tiny_dataset):
    frames, tracks, flow, index = tiny_dataset
    with pytest.raises(DataError, match="older version"):
        score_videos(frames, tracks, flow, index, {"blocks": {}, "config": {}}, {}, "cpu")


def test_box_scores_are_the_scored_cubes_as_a_box_table():
    # two videos; cube rows (video position, frame, block): (1, 4, 0) and (0, 2, 3)
    stc = {"videos": np.asarray(["test_a", "test_b"]), "n_frames": np.asarray([5, 6], np.int32),
           "index": np.asarray([[1, 4, 0], [0, 2, 3]], np.int32),
           "boxes": np.asarray([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32), "score": np.asarray([0.5, -1.0], np.float32)}
    table = box_scores(stc)
    assert table.values.tolist() == [["test_b", 4, 1.0, 2.0, 3.0, 4.0, 0.5], ["test_a", 2, 5.0, 6.0, 7.0, 8.0, -1.0]]
    empty = box_scores({**stc, "index": np.zeros((0, 3), np.int32), "boxes": np.zeros((0, 4), np.float32),
                              "score": np.zeros(0, np.float32)})
    assert empty.empty and list(empty.columns) == ["video_id", "frame", "x1", "y1", "x2", "y2", "score"]
