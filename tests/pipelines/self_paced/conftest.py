"""Fabricated inputs for the self_paced (LBR-SPR) tests: tiny videos, tracks, flow and a video index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def moving_square_video(n_frames: int, height: int, width: int, colour: tuple[int, int, int], speed: float,
                        size: int = 10, background: int = 60) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """A square crossing a flat background: frames [T,H,W,3], its detector track and its flow [T,H,W,2]."""
    frames = np.full((n_frames, height, width, 3), background, np.uint8)
    flow = np.zeros((n_frames, height, width, 2), np.float16)
    rows = []
    y = height // 2 - size // 2
    for t in range(n_frames):
        x = int(2 + speed * t) % max(width - size - 2, 1)
        frames[t, y : y + size, x : x + size] = colour
        flow[t, y : y + size, x : x + size, 0] = speed
        rows.append((t, 0, x, y, x + size - 1, y + size - 1, 0.9))
    tracks = pd.DataFrame(rows, columns=["frame", "track_id", "x1", "y1", "x2", "y2", "score"])
    tracks = tracks.astype({"frame": "int32", "track_id": "int32", "x1": "float32", "y1": "float32",
                            "x2": "float32", "y2": "float32", "score": "float32"})
    return frames, tracks, flow


@pytest.fixture
def tiny_params() -> dict:
    """Parameters with a tiny model and short training (same keys as conf/base/parameters_self_paced.yml)."""
    return {
        "mode": "partial",
        "merge_splits": ["train", "val", "test"],
        "merge_auc_includes_train": False,
        "boxes": {"score_threshold": 0.2, "min_area": 25, "min_side_fraction": 0.05, "cover_threshold": 0.6,
                  "flow_units": "native",
                  "motion": {"enabled": True, "binary_threshold": 1.0, "extend": 2, "max_aspect_ratio": 10}},
        "cubes": {"context": 2, "patch_size": 32, "h_block": 1, "w_block": 1},
        "model": {"nf": 4, "use_flow": False, "lambda_raw": 1.0, "lambda_of": 1.0, "w_raw": 0.5, "w_of": 1.0},
        "train": {"epochs": 2, "warmup_epochs": 1, "shrink_rate": 0.05, "sp_mode": "mixture", "batch_size": 16,
                  "lr": 1e-3, "weight_decay": 0.0, "max_train_stcs": None, "score_batch_size": 64,
                  "num_threads": 1},
        "scoring": {"empty_frame_score": -20.0, "empty_block_score": 20.0, "smooth_window": 1,
                    "smooth_across_videos": False},
        "variants": {"lbr_spr": {"refine": True}, "lbr_norefine": {"refine": False}},
    }


@pytest.fixture
def tiny_dataset():
    """Two test videos and one train video (frames, tracks, flow as partition loaders) + video index."""
    specs = {"train_a": ((200, 40, 40), 1.0, 12), "test_a": ((40, 200, 40), 1.0, 12), "test_b": ((40, 40, 200), 2.0, 9)}
    frames, tracks, flow, rows = {}, {}, {}, []
    for vid, (colour, speed, n) in specs.items():
        f, tr, fl = moving_square_video(n, 48, 64, colour, speed)
        frames[vid], tracks[vid], flow[vid] = (lambda a=f: a), (lambda a=tr: a), (lambda a=fl: a)
        rows.append({"video_id": vid, "split": vid.split("_")[0], "n_frames": n, "height": 48, "width": 64,
                     "fps": 25.0, "source_path": "", "video_label": -1, "anomaly_types": ""})
    return frames, tracks, flow, pd.DataFrame(rows)
