"""Fabricated tracks / object features / video index for memory_fusion tests (spec §6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_dataset(seed: int = 0, pose: bool = True, n_frames: int = 40, da: int = 48, event: tuple[int, int] = (10, 30),
                 lengths: dict[str, int] | None = None):
    """Tiny dataset: normal objects come from 3 appearance clusters with slow speed; test videos have
    anomalous frames (``event``, half-open: 10..29) whose first object has a new appearance and 4x speed.
    ``lengths`` overrides ``n_frames`` of some videos.

    Returns ``tracks`` / ``object_features`` as dicts of loaders (like PartitionedDataset) and ``video_index``.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, da)) * 3
    odd = rng.normal(size=da) * 3
    vids = [("train_a", "train", 0), ("train_b", "train", 0), ("train_c", "train", 0), ("val_a", "val", 0),
            ("train_abn", "train", 1), ("test_a", "test", 1), ("test_b", "test", 1)]
    tracks, feats, rows = {}, {}, []
    for vid, split, label in vids:
        recs, app, vel, kp = [], [], [], []
        n = (lengths or {}).get(vid, n_frames)
        for t in range(n):
            n_obj = int(rng.integers(0, 4)) if t % 7 else 0
            for k in range(n_obj):
                abnormal = split == "test" and event[0] <= t < event[1] and k == 0
                x1, y1 = rng.uniform(0, 80), rng.uniform(0, 40)
                w, h = rng.uniform(10, 20), rng.uniform(25, 40)
                recs.append((t, k, x1, y1, x1 + w, y1 + h, 0.9))
                c = odd if abnormal else centers[rng.integers(0, 3)]
                app.append(c + rng.normal(size=da) * 0.3)
                vel.append(np.abs(rng.normal(size=8)) * (4.0 if abnormal else 1.0))
                rel = rng.uniform(0.2, 0.8, size=(17, 2)) if not abnormal else rng.uniform(0, 1, size=(17, 2))
                kp.append(np.stack([x1 + rel[:, 0] * w, y1 + rel[:, 1] * h], 1).reshape(-1))
        df = pd.DataFrame(recs, columns=["frame", "track_id", "x1", "y1", "x2", "y2", "score"]).astype(
            {"frame": "int32", "track_id": "int32", "x1": "float32", "y1": "float32", "x2": "float32",
             "y2": "float32", "score": "float32"})
        f = {"app": np.asarray(app, np.float32).reshape(len(df), da), "vel": np.asarray(vel, np.float32).reshape(len(df), 8)}
        if pose:
            p = np.asarray(kp, np.float32).reshape(len(df), 34)
            if len(p) > 3:
                p[3] = np.nan  # an unmatched skeleton
            f["pose"] = p
        tracks[vid] = (lambda d=df: d.copy())
        feats[vid] = (lambda d=f: {k: v.copy() for k, v in d.items()})
        rows.append({"video_id": vid, "split": split, "source_path": "", "n_frames": n, "fps": 25,
                     "height": 64, "width": 96, "video_label": label, "anomaly_types": ""})
    return tracks, feats, pd.DataFrame(rows)


def small_params() -> dict:
    """Parameters sized for unit tests (seconds on CPU)."""
    return {
        "app_pca_dim": 16, "app_pca_max_rows": 1000, "pose_normalization": "box", "standardize": False,
        "autoencoder": {"code_dim": 34, "hidden": [32, 32], "lr": 1e-2, "batch_size": 64, "epochs": 15,
                        "holdout": "val", "holdout_fraction": 0.1, "min_holdout": 8},
        "memory": {"n_items": 16, "rows_per_item": 2, "kmeans_n_init": 1, "lr": 1e-2, "batch_size": 256,
                   "epochs": 10, "cosine_t_max": {"app": 5, "pose": None}, "compactness_weight": 5.0,
                   "top_k": 5, "margin": 1.0},
        "pseudo": {"normal_ranks": [0, 5], "anomaly_ranks": [5, 10], "normal_mix": 0.5, "anomaly_mix": 0.01,
                   "temperature": 1.0, "velocity_boost": None},
        "padding": {"t_max": None, "t_max_cap": 48},
        "fusion": {"d_model": 34, "hidden": 32, "dropout": 0.5, "lr": 1e-3, "epochs": 60, "batch_size": None,
                   "monitor_every": 10, "anomaly_objects": "all", "faithful_mask_noop": False, "faithful_k3_typo": False,
                   "scaled_attention": False},
        "scoring": {"smooth_sigma": 1.0, "smooth_across_videos": False},
        "variants": {"smaff": {"modalities": ["app", "pose", "vel"]}, "smaff_nopose": {"modalities": ["app", "vel"]}},
    }


@pytest.fixture
def dataset():
    return make_dataset()


@pytest.fixture
def params():
    return small_params()
