"""Spatio-temporal cubes: shapes, borders, no mixing of videos, blocks (spec section 6, STCs)."""

import numpy as np
import pandas as pd

from vad_kedro.pipelines.self_paced.cubes import block_of, crop_bounds, cubes_to_input, video_cubes
from vad_kedro.pipelines.self_paced.nodes import build_stcs


def _numbered_video(n_frames=6, height=20, width=30):
    """Frame t is filled with the value 10 * (t + 1)."""
    return np.stack([np.full((height, width, 3), 10 * (t + 1), np.uint8) for t in range(n_frames)])


def test_shapes_and_dtypes():
    raw, fl = video_cubes(_numbered_video(), np.array([2, 3]), np.array([[1, 1, 10, 12], [5, 2, 25, 18]]),
                          flow=np.zeros((6, 20, 30, 2), np.float32))
    assert raw.shape == (2, 5, 32, 32, 3) and raw.dtype == np.uint8
    assert fl.shape == (2, 5, 32, 32, 2) and fl.dtype == np.float16


def test_border_frames_repeat_edge_frames():
    video = _numbered_video()
    raw, _ = video_cubes(video, np.array([0, 5]), np.array([[1, 1, 10, 12]] * 2))
    assert raw[0, :, 0, 0, 0].tolist() == [10, 10, 10, 20, 30]  # frame 0: t-2, t-1 repeat frame 0
    assert raw[1, :, 0, 0, 0].tolist() == [40, 50, 60, 60, 60]  # frame T-1: t+1, t+2 repeat frame T-1


def test_video_shorter_than_cube():
    raw, _ = video_cubes(_numbered_video(n_frames=2), np.array([1]), np.array([[1, 1, 10, 12]]))
    assert raw[0, :, 0, 0, 0].tolist() == [10, 10, 20, 20, 20]


def test_crop_uses_ceil_and_stays_in_frame():
    assert crop_bounds(np.array([1.2, 2.0, 10.1, 12.0]), 20, 30) == (2, 11, 2, 12)
    assert crop_bounds(np.array([29.5, 19.5, 31, 22]), 20, 30) == (29, 30, 19, 20)  # at least one pixel


def test_crop_content_is_the_box():
    video = np.zeros((5, 20, 30, 3), np.uint8)
    video[:, 5:10, 10:20] = 255
    raw, _ = video_cubes(video, np.array([2]), np.array([[10, 5, 20, 10]]))
    assert raw.min() == 255


def test_block_by_centre():
    boxes = np.array([[0, 0, 10, 10], [0, 60, 10, 80], [0, 190, 10, 199], [50, 140, 70, 160]])
    assert block_of(boxes, 200, 100, h_block=4, w_block=1).tolist() == [0, 1, 3, 3]
    assert block_of(boxes, 200, 100, h_block=2, w_block=2).tolist() == [0, 0, 2, 3]
    assert block_of(boxes, 200, 100).tolist() == [0, 0, 0, 0]


def test_input_is_frame_major_in_unit_range():
    raw = np.zeros((1, 5, 32, 32, 3), np.uint8)
    raw[0, 1, :, :, 2] = 255  # frame 1, blue
    x = cubes_to_input(raw)
    assert x.shape == (1, 15, 32, 32) and x.dtype == np.float32
    assert x[0, 5].min() == 1.0 and x.sum() == 32 * 32


def test_no_cube_mixes_videos(tiny_params):
    videos = {"test_a": np.full((4, 20, 30, 3), 50, np.uint8), "test_b": np.full((4, 20, 30, 3), 200, np.uint8)}
    frames = {k: (lambda v=v: v) for k, v in videos.items()}
    boxes = pd.DataFrame({"video_id": ["test_a", "test_a", "test_b", "test_b"], "frame": [0, 3, 0, 3],
                          "x1": 1.0, "y1": 1.0, "x2": 12.0, "y2": 12.0, "source": "det"})
    index = pd.DataFrame({"video_id": ["test_a", "test_b"], "split": "test", "n_frames": 4, "height": 20, "width": 30})
    stcs = build_stcs(frames, {}, boxes, index, ["test_a", "test_b"], tiny_params)
    assert stcs["raw"].shape == (4, 5, 32, 32, 3)
    assert stcs["index"].tolist() == [[0, 0, 0], [0, 3, 0], [1, 0, 0], [1, 3, 0]]
    for i, (pos, _, _) in enumerate(stcs["index"]):
        assert set(np.unique(stcs["raw"][i]).tolist()) == {50 if pos == 0 else 200}
    assert stcs["videos"].tolist() == ["test_a", "test_b"] and stcs["n_frames"].tolist() == [4, 4]
    assert "flow" not in stcs
