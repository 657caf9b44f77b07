"""Tiny hand-made videos, index rows and box / pose files for the feature_extraction tests."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from ...conf_params import deep_merge, yaml_group

H, W, T = 48, 64, 20


def fe_params(group: str, over: dict | None = None) -> dict:
    """The shipped ``feature_extraction.<group>`` block with ``over`` merged in, as Kedro hands it to a node.

    ``tracks.min_box_size`` is 1.0 here: the value these tests were written with (the YAML's is 2.0).
    """
    block = yaml_group("feature_extraction")[group]
    if group == "tracks":
        block = {**block, "min_box_size": 1.0}
    return deep_merge(block, over or {})


def make_video(seed: int = 0, t: int = T, h: int = H, w: int = W) -> np.ndarray:
    """A textured background with a dark 8x20 'pedestrian' walking right at 2 px/frame."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur((rng.random((h, w, 3)) * 200 + 30).astype(np.uint8), (7, 7), 0)
    frames = np.stack([bg] * t).copy()
    for k in range(t):
        frames[k, 14:34, 4 + 2 * k:12 + 2 * k] = (20, 20, 160)
    return frames


def index_row(video_id: str, source: Path, t: int = T, split: str | None = None) -> dict:
    split = split or ("test" if video_id.startswith("test_") else "train")
    return {"video_id": video_id, "split": split, "source_path": str(source), "n_frames": t, "fps": 25.0,
            "height": H, "width": W, "video_label": 0, "anomaly_types": ""}


@pytest.fixture
def dataset_root(tmp_path) -> Path:
    """A frame-folder dataset root with two videos (one source JPEG each, same size as the frames)."""
    root = tmp_path / "root"
    for split, name in (("training", "v1"), ("testing", "v2")):
        d = root / split / "frames" / name
        d.mkdir(parents=True)
        cv2.imwrite(str(d / "0000.jpg"), np.zeros((H, W, 3), np.uint8))
    return root


@pytest.fixture
def two_videos(dataset_root):
    """(video_index, frames loaders, raw_manifest, dataset params) for train_v1 and test_v2."""
    rows = [index_row("train_v1", dataset_root / "training/frames/v1"),
            index_row("test_v2", dataset_root / "testing/frames/v2")]
    videos = {"train_v1": make_video(0), "test_v2": make_video(1)}
    frames = {k: (lambda v=v: v) for k, v in videos.items()}
    dataset = {"root": str(dataset_root), "frames_glob": "*.jpg"}
    return pd.DataFrame(rows), frames, {"root": str(dataset_root), "format": "frame_folder"}, dataset


def write_mot(path: Path, rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


def write_pose(path: Path, entries: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))
    return path


def pose_entry(frame: int, box: list[float], idx: int = 1) -> dict:
    x, y, w, h = box
    kps = []
    for k in range(17):
        kps += [x + w / 2 + (k % 3 - 1), y + h * k / 17, 0.9]
    return {"image_id": f"{frame:04d}.jpg", "category_id": 1, "keypoints": kps, "score": 0.9, "box": box, "idx": idx}


def run_lazy(parts: dict) -> dict:
    """Call every lazy partition like PartitionedDataset.save does."""
    return {k: v() for k, v in sorted(parts.items())}
