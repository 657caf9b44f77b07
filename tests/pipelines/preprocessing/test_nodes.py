"""Preprocessing nodes on a tiny fabricated frame-folder dataset (ShanghaiTech-style labels)."""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.pipelines.preprocessing import nodes

PRE = {"working_size": None, "val_fraction": 0.2, "min_frames": 1}   # every key the YAML defines


def _dataset(root: Path, n_train=6, n_test=2, T=12) -> dict:
    rng = np.random.default_rng(0)
    for split, names in (("training", [f"n{i}" for i in range(n_train // 2)] + [f"a{i}" for i in range(n_train // 2)]),
                         ("testing", [f"{i:02d}" for i in range(n_test)])):
        for name in names:
            d = root / split / "frames" / name
            d.mkdir(parents=True)
            for t in range(T):
                cv2.imwrite(str(d / f"{t:04d}.jpg"), rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    masks = root / "testing" / "test_frame_mask"
    masks.mkdir(parents=True)
    np.save(masks / "00.npy", np.r_[np.zeros(6), np.ones(6)].astype(np.uint8))
    np.save(masks / "01.npy", np.zeros(T, np.uint8))
    pd.DataFrame({"split": ["training"] * n_train, "video": [f"n{i}" for i in range(n_train // 2)] +
                  [f"a{i}" for i in range(n_train // 2)], "label": [0] * (n_train // 2) + [1] * (n_train // 2),
                  "anomaly_types": [""] * (n_train // 2) + ["running"] * (n_train // 2)}).to_csv(root / "video_labels.csv",
                                                                                                 index=False)
    pd.DataFrame({"split": ["testing"], "video": ["00"], "track_id": [3], "start_frame": [6], "end_frame": [11],
                  "anomaly_type": ["falling"]}).to_csv(root / "events.csv", index=False)
    return {"name": "toy", "root": str(root), "format": "frame_folder", "synthetic": None, "frames_glob": "*.jpg",
            "train_dir": "training/frames", "test_dir": "testing/frames",
            "labels": {"kind": "npy_masks", "path": "testing/test_frame_mask"}, "pixel_masks": None,
            "video_labels_csv": "video_labels.csv", "events_csv": "events.csv", "fps": 25}


def test_index_labels_split_and_frames(tmp_path):
    ds = _dataset(tmp_path)
    manifest = nodes.prepare_raw(ds)
    index, labels = nodes.build_video_index(manifest, ds, {**PRE, "working_size": [10, 16], "min_frames": 4})
    assert set(index.columns) >= {"video_id", "split", "n_frames", "video_label", "anomaly_types"}
    by_id = index.set_index("video_id")
    assert by_id.loc["train_a0", "video_label"] == 1 and by_id.loc["train_a0", "anomaly_types"] == "running"
    assert by_id.loc["test_00", "video_label"] == 1 and by_id.loc["test_01", "video_label"] == 0
    assert (by_id["height"] == 10).all() and (by_id["width"] == 16).all()
    assert len(labels) == 24 and labels["label"].sum() == 6
    assert set(labels.loc[labels.label == 1, "anomaly_type"]) == {"falling"}
    assert (labels.loc[labels.label == 0, "anomaly_type"] == "").all()

    split = nodes.split_train_val(index, {**PRE, "val_fraction": 0.34}, seed=1)
    val = split[split.split == "val"]
    assert sorted(val["video_label"]) == [0, 1]                     # stratified: one of each class
    assert split.equals(nodes.split_train_val(index, {**PRE, "val_fraction": 0.34}, seed=1))   # reproducible
    assert (split[split.video_id.str.startswith("test_")]["split"] == "test").all()     # test untouched

    frames = nodes.decode_frames(split, ds, {**PRE, "working_size": [10, 16]})
    arr = frames["test_00"]()
    assert arr.shape == (12, 10, 16, 3) and arr.dtype == np.uint8


def test_missing_root_and_too_short_videos(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        nodes.prepare_raw({"name": "x", "format": "frame_folder", "root": str(tmp_path / "missing"), "synthetic": None})
    ds = _dataset(tmp_path, T=3)
    np.save(tmp_path / "testing" / "test_frame_mask" / "00.npy", np.zeros(3, np.uint8))
    np.save(tmp_path / "testing" / "test_frame_mask" / "01.npy", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="fewer than preprocessing.min_frames=4"):
        nodes.build_video_index(nodes.prepare_raw(ds), ds, {**PRE, "min_frames": 4})


def test_mask_regions_one_box_per_connected_component():
    # frame 0: a 2x3 blob at rows 1-2, cols 1-3 and a single pixel at (4, 5); frame 1: empty.
    masks = np.zeros((2, 6, 8), np.uint8)
    masks[0, 1:3, 1:4] = 1
    masks[0, 4, 5] = 1
    regions = nodes.mask_regions(masks).sort_values("x1")
    assert regions.values.tolist() == [[0, 1, 1, 4, 3], [0, 5, 4, 6, 5]]     # frame, x1, y1, x2, y2 (pixel edges)


def test_anomaly_regions_from_the_csv_scaled_to_the_working_size(tmp_path):
    # Source frames are 30 x 20 px, working size 15 x 10: boxes halve. Normal rows and training videos are dropped.
    ds = _dataset(tmp_path)
    pd.DataFrame({"split": ["testing", "testing", "training"], "video": ["00", "00", "a0"], "frame": [6, 7, 6],
                  "track_id": [3, 4, 3], "x1": [2.0, 0.0, 2.0], "y1": [4.0, 0.0, 4.0], "x2": [10.0, 5.0, 10.0],
                  "y2": [8.0, 5.0, 8.0], "anomalous": [1, 0, 1]}).to_csv(tmp_path / "objects.csv", index=False)
    ds["anomaly_regions_csv"] = "objects.csv"
    index, _ = nodes.build_video_index(nodes.prepare_raw(ds), ds, {**PRE, "working_size": [10, 15]})
    regions = nodes.anomaly_regions(index, {}, ds, {**PRE, "working_size": [10, 15]})
    assert regions.to_dict("records") == [{"video_id": "test_00", "frame": 6, "track_id": 3, "x1": 1.0, "y1": 2.0,
                                           "x2": 5.0, "y2": 4.0}]


def test_anomaly_regions_from_pixel_masks_have_no_tracks(tmp_path):
    ds = {**_dataset(tmp_path), "anomaly_regions_csv": None}
    index, _ = nodes.build_video_index(nodes.prepare_raw(ds), ds, PRE)
    masks = np.zeros((12, 20, 30), np.uint8)
    masks[6, 2:4, 3:5] = 1
    regions = nodes.anomaly_regions(index, {"test_00": lambda: masks}, ds, PRE)
    assert regions[["video_id", "frame", "track_id", "x1", "y1", "x2", "y2"]].values.tolist() == [
        ["test_00", 6, -1, 3.0, 2.0, 5.0, 4.0]]
