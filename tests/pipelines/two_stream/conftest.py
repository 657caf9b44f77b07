"""Fabricated moving-blob videos for the two_stream tests (spec section 6 synthetic set).

Normal videos: a textured static background with sensor noise and a few round blobs crossing the frame
horizontally at walking speed. Test anomalies in the middle of a video: a blob at 4x speed ("fast") or a
novel shape, a bright square ("shape").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def blob_video(seed: int, n_frames: int = 120, height: int = 72, width: int = 96, anomaly: str | None = None,
               window: tuple[int, int] = (40, 80)) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [T,H,W,3] moving-blob video and its 0/1 frame labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    bg = 90 + 25 * np.sin(xx / 7.0)[..., None] * np.cos(yy / 9.0)[..., None] + np.array([10, 0, -10])
    bg = np.broadcast_to(bg, (height, width, 3)).astype(np.float32)
    blobs = [(rng.uniform(10, height - 10), rng.uniform(0, width), rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.2))
             for _ in range(3)]
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    labels = np.zeros(n_frames, np.int64)
    fast_x = 0.0
    for t in range(n_frames):
        img = bg + rng.normal(0, 3, size=bg.shape).astype(np.float32)
        for y0, x0, v in blobs:
            x = (x0 + v * t) % width
            img[(yy - y0) ** 2 + (xx - x) ** 2 <= 20] = (200, 60, 60)
        if anomaly and window[0] <= t < window[1]:
            labels[t] = 1
            if anomaly == "fast":
                fast_x = (fast_x + 4.5) % width
                img[(yy - height / 2) ** 2 + (xx - fast_x) ** 2 <= 20] = (200, 60, 60)
            else:
                x = int((5 + 1.0 * (t - window[0])) % (width - 12))
                img[height // 2 - 6 : height // 2 + 6, x : x + 12] = (240, 240, 80)
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
    return frames, labels


def blob_dataset(n_train: int = 6, n_test: int = 4, n_frames: int = 120, **kw) -> tuple[dict, pd.DataFrame, dict]:
    """Frames dict (video_id -> array), video_index, and test labels {video_id: labels}."""
    frames, rows, labels = {}, [], {}
    for i in range(n_train):
        vid = f"train_{i:02d}"
        frames[vid], _ = blob_video(100 + i, n_frames, **kw)
        rows.append((vid, "train" if i else "val", n_frames, 0))
    for i in range(n_test):
        vid = f"test_{i:02d}"
        frames[vid], labels[vid] = blob_video(200 + i, n_frames, anomaly=("fast", "shape")[i % 2], **kw)
        rows.append((vid, "test", n_frames, 1))
    index = pd.DataFrame(rows, columns=["video_id", "split", "n_frames", "video_label"])
    return frames, index, labels


@pytest.fixture(scope="session")
def blobs():
    return blob_dataset()


def tiny_params(**over) -> dict:
    """two_stream parameters for fast tests (R = 64, very thin encoder)."""
    p = {
        "resolution": 64, "n_crops": 3,
        "encoder": {"width_div": 16, "blocks": [1, 1, 1, 1], "remove_last_relu": True, "weights_path": None,
                    "pretrained_resolution": 256, "finetune_rate": None},
        "cr": {"n_context": 8, "interval": 2, "epochs": 3, "iterations": 16, "batch_size": 16, "lr": 0.01,
               "milestones": [2], "gamma": 0.1, "lam_l1": 1.0, "score_batch_size": 32, "videos_per_chunk": 64,
               "cache_mb": 256},
        "mle": {"patch_sizes": None, "patch_stride": None, "channel_l2": True, "lam_l1": 1.0, "crop_fuse": "mean"},
        "pseudo": {"n_per_scene": 2, "mode": "blend", "anomaly_ratio": 0.5, "angle_range": [2, 5], "jitter": 20,
                   "default_patch_index": 0},
        "kr": {"feature_source": "cr_encoder", "snippet_len": 8, "interval": 8, "snippet_frames": 16,
               "train_stride": 2, "n_heads": 8, "code_len": 32, "epochs": 10, "pairs_per_video": 32,
               "batch_size": 256, "lr": 0.003125, "momentum": 0.9, "weight_decay": 1e-4, "mutual_weight": 0.64,
               "pos_window": 150},
        "fusion": {"w_cr": 1.0, "w_kr": 1.0, "cr_sigma": None, "kr_sigma": None},
    }
    for key, val in over.items():
        if isinstance(val, dict):
            p[key] = {**p[key], **val}
        else:
            p[key] = val
    return p
