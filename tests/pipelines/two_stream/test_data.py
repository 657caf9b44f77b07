"""Frame handling: resizing, crops, clip / snippet indices, pseudo-anomalies, lazy loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vad_kedro.core.errors import DataError
from vad_kedro.pipelines.two_stream import data


def test_resize_short_side_and_crops():
    frames = np.zeros((2, 180, 240, 3), np.uint8)
    small = data.resize_short_side(frames, 64)
    assert small.shape == (2, 64, 85, 3)
    assert data.crop_offsets(85, 64, 3) == [0, 10, 21]  # left, centre, right
    assert data.crop_offsets(85, 64, 1) == [10]
    assert data.crop(small, 21, 64).shape == (2, 64, 64, 3)
    portrait = data.resize_short_side(np.zeros((1, 100, 50, 3), np.uint8), 64)
    assert portrait.shape == (1, 128, 64, 3)
    assert data.crop(portrait, 64, 64).shape == (1, 64, 64, 3)
    assert data.train_crop_offset(85, 64, 0.0) == 0 and data.train_crop_offset(85, 64, 0.999) == 21


def test_to_input_normalises_and_moves_channels():
    x = data.to_input(np.full((2, 8, 4, 4, 3), 255, np.uint8))
    assert x.shape == (2, 3, 8, 4, 4)
    assert torch.allclose(x, torch.tensor((1 - 0.45) / 0.225))


def test_context_and_snippet_indices():
    idx = data.context_indices(20, 8, 2)
    assert idx.shape == (4, 9)
    assert idx[0].tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16] and idx[-1, -1] == 19
    assert data.context_indices(16, 8, 2).shape == (0, 9)  # shorter than the context window
    sn = data.snippet_indices(60, 8, 8)
    assert sn.shape == (4, 8) and sn[0].tolist() == [0, 8, 16, 24, 32, 40, 48, 56] and sn[-1, -1] == 59
    assert data.snippet_indices(56, 8, 8).shape == (0, 8)
    assert data.snippet_indices(100, 8, 8, stride=4)[:, 0].tolist() == list(range(0, 44, 4))


def test_scene_of():
    assert data.scene_of("train_01_001") == "01"
    assert data.scene_of("train_n01") == "all"


def test_pseudo_plan_labels_blend_and_seed():
    ids = ["train_01_001", "train_01_002", "train_02_001", "train_02_002", "train_02_003"]
    n = dict.fromkeys(ids, 40)
    plan = data.pseudo_anomaly_plan(ids, n, 2, "blend", 0.5, (2, 5), 20, seed=3)
    assert len(plan["videos"]) == 4  # 2 per scene
    assert {data.scene_of(v["source"]) for v in plan["videos"]} == {"01", "02"}
    item = plan["videos"][0]
    labels = np.array(item["labels"])
    assert labels.sum() == 20 and labels[:10].sum() == 0 and labels[10:30].all()
    blend = np.array(item["blend"])
    assert (blend[labels == 0] == -1).all() and (blend[10:30] == np.minimum(np.arange(10, 30) + 2, 39)).all()
    assert set(item["angles"]) <= {2, 3, 4, 5}
    assert plan == data.pseudo_anomaly_plan(ids, n, 2, "blend", 0.5, (2, 5), 20, seed=3)
    jit = data.pseudo_anomaly_plan(ids, n, 1, "jitter", 0.4, (2, 5), 20, seed=3)["videos"][0]
    assert all(0 <= o < 40 for o in jit["order"]) and sum(jit["labels"]) == 16
    with pytest.raises(ValueError):
        data.pseudo_anomaly_plan(ids, n, 1, "bogus", 0.5, (2, 5), 20, 0)


def test_render_pseudo_video_clamps_and_blends():
    frames = np.zeros((6, 16, 16, 3), np.uint8)
    for t in range(6):
        frames[t] = 10 * t
    item = {"source": "v", "angles": [0] * 6, "order": list(range(6)), "blend": [-1, -1, 4, 5, 5, -1],
            "labels": [0, 0, 1, 1, 1, 0]}
    out = data.render_pseudo_video(frames, item)
    assert out.shape == frames.shape
    assert out[0, 8, 8, 0] == 0 and out[2, 8, 8, 0] == 30 and out[4, 8, 8, 0] == 45  # mean(40, 50)
    with pytest.raises(DataError, match="v"):
        data.render_pseudo_video(frames[:5], item)


def test_resized_videos_checks_and_caches():
    calls = []

    def loader():
        calls.append(1)
        return np.zeros((3, 80, 100, 3), np.uint8)

    vids = data.ResizedVideos({"ok": loader, "bad": lambda: np.zeros((3, 80, 100), np.uint8),
                               "float": lambda: np.zeros((3, 8, 8, 3), np.float32)}, 64, cache_mb=10)
    assert vids("ok").shape == (3, 64, 80, 3)
    vids("ok")
    assert len(calls) == 1
    with pytest.raises(DataError, match="bad"):
        vids("bad")
    with pytest.raises(DataError, match="uint8"):
        vids("float")
    with pytest.raises(DataError, match="missing"):
        vids("missing")
