"""Node functions of feature_extraction on tiny hand-made videos and files."""

import logging

import cv2
import numpy as np
import pandas as pd
import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.core.runtime import shifted_seed
from vad_kedro.pipelines.feature_extraction import nodes
from vad_kedro.vision.geometry import matched_at_iou

from .conftest import H, T, W, fe_params, index_row, make_video, pose_entry, run_lazy, write_mot, write_pose

TRACKS_P = fe_params("tracks", {"detector": "background_subtraction",
                                "background_subtraction": {"method": "median", "min_area": 20, "person_aspect": 2.5},
                                "tracker": {"min_hits": 2}})
FLOW_P = fe_params("flow", {"method": "dis", "downsample": 2})
SNIP_P = fe_params("snippets", {"extractor": "motion_appearance", "n_crops": 5, "motion_appearance": {"grid": 2}})
OBJ_P = fe_params("object_features", {"app": {"type": "hog"}, "vel": {"bins": 8}, "pose": {"source": "alphapose_json"}})


def _tracks(two_videos, params=TRACKS_P):
    vi, frames, raw, ds = two_videos
    parts, keys = nodes.extract_tracks(vi, frames, raw, ds, params, True, {})
    return run_lazy(parts), keys


def test_detector_tracks_follow_the_walker(two_videos):
    out, keys = _tracks(two_videos)
    assert set(out) == set(keys) == {"train_v1", "test_v2"}
    df = out["train_v1"]
    assert list(df.columns) == ["frame", "track_id", "x1", "y1", "x2", "y2", "score"]
    assert df["track_id"].nunique() == 1 and len(df) >= T - 2
    row = df[df["frame"] == 10].iloc[0]
    assert row["x1"] == pytest.approx(24, abs=2) and row["y2"] == pytest.approx(34, abs=2)


def test_ground_truth_importer_rescales_and_clips(two_videos, dataset_root, caplog):
    # source frames twice the working size: boxes are halved; one box reaches outside the image
    cv2.imwrite(str(dataset_root / "training/frames/v1/0000.jpg"), np.zeros((2 * H, 2 * W, 3), np.uint8))
    write_mot(dataset_root / "annotations/tracks/training/v1.txt",
              [(1, 5, 10, 20, 8, 40), (2, 5, 12, 20, 8, 40), (3, 5, 120, 20, 20, 40)])
    write_mot(dataset_root / "annotations/tracks/testing/v2.txt", [(1, 1, 0, 0, 4, 4)])
    with caplog.at_level(logging.WARNING):
        out, _ = _tracks(two_videos, fe_params("tracks", {"detector": "ground_truth"}))
    df = out["train_v1"]
    assert df["frame"].tolist() == [0, 1, 2] and (df["track_id"] == 5).all()
    assert df.iloc[0][["x1", "y1", "x2", "y2"]].tolist() == [5, 10, 9, 30]
    assert df.iloc[2]["x2"] == W                     # clipped at the right edge
    assert "train_v1: clipped 1 boxes" in caplog.text
    assert "analysis only" in caplog.text


def test_box_file_beyond_the_video_is_an_error(two_videos, dataset_root):
    write_mot(dataset_root / "annotations/tracks/training/v1.txt", [(T + 1, 1, 0, 0, 4, 4)])
    write_mot(dataset_root / "annotations/tracks/testing/v2.txt", [(1, 1, 0, 0, 4, 4)])
    with pytest.raises(DataError, match=r"train_v1: box file .* references frame 20 .* 20 frames"):
        _tracks(two_videos, fe_params("tracks", {"detector": "ground_truth"}))


def test_missing_box_file_names_the_video(two_videos):
    with pytest.raises(DataError, match="test_v2: box file .* not found"):
        _tracks(two_videos, fe_params("tracks", {"detector": "mot_txt"}))


def test_json_idx_importer_default_template(two_videos, dataset_root):
    for short, name in (("train", "v1"), ("test", "v2")):
        write_pose(dataset_root / f"detection_results/{short}/{name}_det-results.json",
                   [{"image_id": "003.jpg", "box": [1, 2, 3, 4], "score": 2.5, "idx": 9}])
    out, _ = _tracks(two_videos, fe_params("tracks", {"detector": "json_idx"}))
    assert out["test_v2"][["frame", "track_id", "x2"]].values.tolist() == [[3, 9, 4]]


def test_zero_frames_and_differing_sizes_are_errors(two_videos):
    vi, frames, raw, ds = two_videos
    bad = vi.copy()
    bad.loc[0, "n_frames"] = 0
    with pytest.raises(DataError, match="train_v1: video has zero frames"):
        nodes.extract_flow(bad, frames, FLOW_P, True, {})
    frames2 = dict(frames)
    frames2["test_v2"] = lambda: make_video(1, h=H + 2)
    parts, _ = nodes.extract_flow(vi, frames2, FLOW_P, True, {})
    with pytest.raises(DataError, match="test_v2: frames are 50x64 but video_index says 48x64"):
        run_lazy(parts)
    frames2["test_v2"] = lambda: make_video(1, t=T - 1)
    with pytest.raises(DataError, match="test_v2: frames has 19 frames but video_index says 20"):
        run_lazy(nodes.extract_flow(vi, frames2, FLOW_P, True, {})[0])
    frames2["test_v2"] = lambda: np.zeros((0, H, W, 3), np.uint8)
    with pytest.raises(DataError, match="test_v2: video has zero frames"):
        run_lazy(nodes.extract_flow(vi, frames2, FLOW_P, True, {})[0])
    with pytest.raises(DataError, match="no frames partition"):
        nodes.extract_flow(vi, {"train_v1": frames["train_v1"]}, FLOW_P, True, {})


def test_flow_and_snippet_feature_shapes(two_videos):
    vi, frames, _, _ = two_videos
    flow_parts, flow_keys = nodes.extract_flow(vi, frames, FLOW_P, True, {})
    flow = run_lazy(flow_parts)
    assert flow["train_v1"].shape == (T, H // 2, W // 2, 2) and flow["train_v1"].dtype == np.float16
    loaders = {k: (lambda v=v: v) for k, v in flow.items()}
    snip, _ = nodes.extract_snippet_features(vi, frames, loaders, flow_keys, SNIP_P, "cpu", 0, True, {})
    out = run_lazy(snip)
    assert out["test_v2"].shape == (2, 5, 4 * 33) and out["test_v2"].dtype == np.float32


def test_declared_feature_dim_is_checked(two_videos):
    vi, frames, _, _ = two_videos
    flow_parts, flow_keys = nodes.extract_flow(vi, frames, FLOW_P, True, {})
    loaders = {k: (lambda v=v: v) for k, v in run_lazy(flow_parts).items()}
    snip, _ = nodes.extract_snippet_features(vi, frames, loaders, flow_keys, {**SNIP_P, "feature_dim": 1024}, "cpu",
                                             0, True, {})
    with pytest.raises(DataError, match="test_v2: motion_appearance features have dimension 132, snippets.feature_dim"):
        run_lazy(snip)


def test_torchvision_extractor_without_weights_fails_before_any_video(two_videos):
    vi, frames, _, _ = two_videos
    from vad_kedro.vision.backbones import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="r3d_18: no weights_path given"):
        nodes.extract_snippet_features(vi, frames, {}, {}, fe_params("snippets", {"extractor": "r3d_18"}), "cpu", 0,
                                       True, {})


def _i3d_index(tmp_path, arrays: dict[str, np.ndarray], t_frames=None) -> pd.DataFrame:
    rows = []
    for vid, arr in arrays.items():
        p = tmp_path / f"{vid}.npy"
        np.save(p, arr)
        rows.append({"video_id": vid, "split": "train", "source_path": str(p),
                     "n_frames": t_frames or 16 * arr.shape[0], "fps": 30.0, "height": 0, "width": 0,
                     "video_label": 0, "anomaly_types": ""})
    return pd.DataFrame(rows)


def test_i3d_import(tmp_path):
    x = np.random.default_rng(0).random((7, 10, 8)).astype(np.float32)
    vi = _i3d_index(tmp_path, {"train_a": x})
    p = fe_params("snippets", {"extractor": "i3d_import",
                               "i3d_import": {"style": "ucf", "n_crops": 10, "feature_dim": 8}})
    out = run_lazy(nodes.extract_snippet_features(vi, {}, {}, {}, p, "cpu", 0, True, {})[0])
    np.testing.assert_array_equal(out["train_a"], x)


@pytest.mark.parametrize("arr, cfg, problem", [
    (np.full((4, 10, 8), np.nan, np.float32), {}, "NaN"),
    (np.zeros((4, 10, 8), np.float32), {"feature_dim": 2048}, "dimension 8, i3d_import.feature_dim declares 2048"),
    (np.zeros((4, 10, 8), np.float32), {"n_crops": 5}, "10 crops, snippets.n_crops declares 5"),
])
def test_i3d_import_bad_features(tmp_path, arr, cfg, problem):
    vi = _i3d_index(tmp_path, {"train_b": arr})
    p = fe_params("snippets", {"extractor": "i3d_import", "i3d_import": {"style": "ucf", **cfg}})
    with pytest.raises(DataError, match=problem):
        run_lazy(nodes.extract_snippet_features(vi, {}, {}, {}, p, "cpu", 0, True, {})[0])


def test_i3d_import_snippet_count_must_match_the_index(tmp_path):
    vi = _i3d_index(tmp_path, {"train_c": np.zeros((4, 10, 8), np.float32)}, t_frames=100)
    with pytest.raises(DataError, match="train_c: imported features have 4 snippets"):
        run_lazy(nodes.extract_snippet_features(vi, {}, {}, {}, fe_params("snippets", {"extractor": "i3d_import"}), "cpu",
                                                   0, True, {})[0])


def _object_inputs(two_videos, tracks):
    vi, frames, raw, ds = two_videos
    flow_parts, flow_keys = nodes.extract_flow(vi, frames, FLOW_P, True, {})
    flow = {k: (lambda v=v: v) for k, v in run_lazy(flow_parts).items()}
    tr = {k: (lambda v=v: v) for k, v in tracks.items()}
    return vi, frames, tr, flow, {k: "t" for k in tracks}, flow_keys, raw, ds


def _table(rows):
    return pd.DataFrame(rows, columns=["frame", "track_id", "x1", "y1", "x2", "y2", "score"])


def test_object_features_with_pose(two_videos, dataset_root, caplog):
    tracks = {"train_v1": _table([(2, 0, 8, 14, 16, 34, 1.0), (2, 1, 40, 10, 50, 40, 1.0), (5, 0, 14, 14, 22, 34, 1.0)]),
              "test_v2": _table([])}
    write_pose(dataset_root / "annotations/pose/training/v1.json",
               [pose_entry(2, [8, 14, 8, 20]), pose_entry(5, [14.5, 14, 8, 20])])
    write_pose(dataset_root / "annotations/pose/testing/v2.json", [])
    args = _object_inputs(two_videos, tracks)
    with caplog.at_level(logging.INFO):
        parts, keys = nodes.extract_object_features(*args, OBJ_P, "cpu", True, {})
        out = run_lazy(parts)
    f = out["train_v1"]
    assert f["app"].shape == (3, 3780) and f["app"].dtype == np.float16
    assert f["vel"].shape == (3, 8) and f["pose"].shape == (3, 34)
    assert f["pose"][0, 0] == pytest.approx(8 + 4 - 1) and f["pose"][0, 1] == pytest.approx(14)
    assert np.isnan(f["pose"][1]).all() and np.isfinite(f["pose"][[0, 2]]).all()
    assert "train_v1: 1 of 3 objects have no matching pose" in caplog.text
    # the walker moves right at 2 px/frame: angle ~0 degrees = bin 0 or (just below 360) bin 7, m = |u|+|v| ~ 2
    assert f["vel"][0, [0, 7]].sum() > 1.2 and f["vel"][0, 1:7].sum() < 0.3
    assert out["test_v2"]["app"].shape == (0, 3780) and out["test_v2"]["pose"].shape == (0, 34)


def test_object_features_without_pose_say_so(two_videos, caplog):
    tracks = {"train_v1": _table([(2, 0, 8, 14, 16, 34, 1.0)]), "test_v2": _table([])}
    with caplog.at_level(logging.WARNING):
        out = run_lazy(nodes.extract_object_features(*_object_inputs(two_videos, tracks), OBJ_P, "cpu", True, {})[0])
    assert "pose" not in out["train_v1"] and "no pose files found" in caplog.text


def test_object_features_partial_pose_is_an_error(two_videos, dataset_root):
    write_pose(dataset_root / "annotations/pose/training/v1.json", [])
    tracks = {"train_v1": _table([]), "test_v2": _table([])}
    with pytest.raises(DataError, match="test_v2: pose file .* not found, but other videos have pose"):
        nodes.extract_object_features(*_object_inputs(two_videos, tracks), OBJ_P, "cpu", True, {})


def test_a_clip_from_outside_the_dataset_has_no_pose(two_videos, dataset_root, caplog):
    """``inference`` scores a user's clip (split test, label -1) beside dataset videos that have pose files."""
    write_pose(dataset_root / "annotations/pose/training/v1.json", [])
    vi, frames, raw, ds = two_videos
    vi = vi.assign(video_label=[0, -1])
    tracks = {"train_v1": _table([]), "test_v2": _table([])}
    with caplog.at_level(logging.WARNING):
        parts = nodes.extract_object_features(*_object_inputs((vi, frames, raw, ds), tracks), OBJ_P, "cpu", True, {})[0]
    out = run_lazy(parts)
    assert "pose" in out["train_v1"] and "pose" not in out["test_v2"] and "no pose for test_v2" in caplog.text


def test_pose_file_beyond_the_video_is_an_error(two_videos, dataset_root):
    write_pose(dataset_root / "annotations/pose/training/v1.json", [pose_entry(T + 3, [1, 1, 5, 5])])
    write_pose(dataset_root / "annotations/pose/testing/v2.json", [])
    tracks = {"train_v1": _table([]), "test_v2": _table([])}
    with pytest.raises(DataError, match="train_v1: pose file .* references frame 23"):
        nodes.extract_object_features(*_object_inputs(two_videos, tracks), OBJ_P, "cpu", True, {})


def test_match_pose_hungarian():
    tr = _table([(0, 0, 0, 0, 10, 10, 1), (0, 1, 20, 0, 30, 10, 1), (1, 0, 0, 0, 10, 10, 1)])
    pb = _table([(0, 7, 21, 0, 31, 10, 1), (0, 8, 1, 0, 11, 10, 1)])
    kps = np.zeros((2, 17, 3), np.float32)
    kps[0, :, 0], kps[1, :, 0] = 100, 200
    pose, n_un = nodes.match_pose(tr, pb, kps, 0.3)
    assert pose[0, 0] == 200 and pose[1, 0] == 100 and np.isnan(pose[2]).all() and n_un == 1


def test_template_fields():
    f = nodes.template_fields({"video_id": "train_01_0014", "split": "val"}, "/r")
    assert f == {"root": "/r", "video_id": "train_01_0014", "video": "01_0014", "split": "val",
                 "split_dir": "training", "split_short": "train"}


# ---------------------------------------------------------------- learned detector (centernet)
def _walker_mot(dataset_root, name="v1", split="training"):
    """MOT file of make_video's walker: 8x20 box at x = 4 + 2k, y = 14."""
    return write_mot(dataset_root / f"annotations/tracks/{split}/{name}.txt",
                     [(k + 1, 1, 4 + 2 * k, 14, 8, 20) for k in range(T)])


CENTERNET_P = fe_params("tracks", {"detector": "centernet", "centernet": {"threshold": 0.3, "device": "cpu"}})
TRAIN_P = fe_params("detector_training", {"boxes": "ground_truth", "iterations": 200, "batch_size": 8, "lr": 1e-2,
                                          "crop": [48, 64], "width": 16, "holdout_every": 0})


def test_trained_detector_finds_the_walker_and_retraining_invalidates_tracks(two_videos, dataset_root, tmp_path):
    import torch

    _walker_mot(dataset_root)
    vi, frames, raw, ds = two_videos
    ckpt, history = nodes.train_detector(vi, frames, raw, ds, CENTERNET_P, TRAIN_P, shifted_seed(0), "cpu")
    assert set(ckpt) >= {"state", "config", "validation"} and ckpt["videos"]["fit"] == ["train_v1"]
    assert history["loss"][-1] < history["loss"][0]
    weights = tmp_path / "centernet.pt"
    torch.save(ckpt, weights)
    params = {**CENTERNET_P, "centernet": {**CENTERNET_P["centernet"], "weights_path": str(weights)},
              "tracker": {"min_hits": 2}}
    parts, keys = nodes.extract_tracks(vi, frames, raw, ds, params, True, {})
    df = run_lazy(parts)["test_v2"]                  # an unseen video with the same kind of walker
    truth = {k: np.array([[4 + 2 * k, 14, 12 + 2 * k, 34]], float) for k in range(T)}
    hits = sum(int(matched_at_iou(truth[int(f)], g[["x1", "y1", "x2", "y2"]].to_numpy()).sum())
               for f, g in df.groupby("frame"))
    logging.getLogger(__name__).info("walker found in %d of %d frames", hits, T)
    assert hits >= 0.8 * T   # measured 20 of 20 frames for seeds 0..4 at 1 and 2 threads
    ckpt["config"]["width"] = 8                       # same network, new file contents -> new key
    torch.save({**ckpt, "videos": {"fit": [], "held_out": []}}, weights)
    _, keys2 = nodes.extract_tracks(vi, frames, raw, ds, params, True, keys)
    assert keys2["test_v2"] != keys["test_v2"]


def test_detector_training_holds_out_videos_and_reports_their_recall(two_videos, dataset_root):
    _walker_mot(dataset_root)
    _walker_mot(dataset_root, "v3")
    vi, frames, raw, ds = two_videos
    vi = pd.concat([vi, pd.DataFrame([index_row("train_v3", dataset_root / "training/frames/v1")])])
    frames = {**frames, "train_v3": lambda: make_video(3)}
    ckpt, history = nodes.train_detector(vi, frames, raw, ds, CENTERNET_P,
                                         {**TRAIN_P, "holdout_every": 2, "iterations": 10}, 0, "cpu")
    assert ckpt["videos"] == {"fit": ["train_v1"], "held_out": ["train_v3"]}
    assert ckpt["validation"]["boxes"] == T and 0.0 <= ckpt["validation"]["recall"] <= 1.0
    assert history["heldout_recall"] == [ckpt["validation"]["recall"]]


def test_detector_training_without_any_box_file_is_an_error(two_videos, caplog):
    vi, frames, raw, ds = two_videos
    with caplog.at_level(logging.WARNING), pytest.raises(DataError, match="no training video has a box file"):
        nodes.train_detector(vi, frames, raw, ds, CENTERNET_P, TRAIN_P, 0, "cpu")
    assert "1 training videos have no box file, skipped: train_v1" in caplog.text


def test_detector_training_refuses_an_unknown_box_source(two_videos):
    vi, frames, raw, ds = two_videos
    with pytest.raises(ValueError, match="detector_training.boxes must be one of"):
        nodes.train_detector(vi, frames, raw, ds, CENTERNET_P, {**TRAIN_P, "boxes": "yolo"}, 0, "cpu")


@pytest.mark.parametrize("extractor", ["motion_appearance", "r3d_18", None])
def test_i3d_features_with_a_frame_based_extractor_names_the_setting(extractor):
    snippets = {"extractor": extractor} if extractor else {}
    with pytest.raises(DataError, match=r"^feature_extraction\.snippets\.extractor: .*no frames.* set "
                                        r"feature_extraction\.snippets\.extractor: i3d_import$"):
        nodes.check_snippet_source({"format": "i3d_features"}, snippets)
    nodes.check_snippet_source({"format": "i3d_features"}, {"extractor": "i3d_import"})
    nodes.check_snippet_source({"format": "frame_folder"}, snippets)
