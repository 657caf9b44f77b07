"""Inference nodes: clear errors for bad requests, threshold from reference videos, atomic outputs."""

import cv2
import numpy as np
import pandas as pd
import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.io import LazyCheckpoint
from vad_kedro.pipelines.inference import nodes

TRAINERS = {"rtfm": "weak_supervision", "lpg": "state_machine"}
NEEDED = {"rtfm": ["rtfm.model"], "lpg": ["lpg.model"]}
INFERENCE = {"n_reference_videos": 3, "threshold_percentile": 99, "output_dir": "unused", "top_boxes": 3}   # the YAML keys


def _check(video_path, method, models=(LazyCheckpoint("x.pt", "rtfm"), LazyCheckpoint(None, "lpg"))):
    return nodes.check_request(video_path, method, *models, model_names=["rtfm.model", "lpg.model"],
                               trainers=TRAINERS, needed_models=NEEDED, object_level=["lpg"])


def _video(path, n=12, size=(32, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (size[1], size[0]))
    for i in range(n):
        writer.write(np.full((*size, 3), 10 * i, np.uint8))
    writer.release()
    return path


def test_bad_requests_each_get_one_clear_sentence(tmp_path):
    video = _video(tmp_path / "clip.avi")
    with pytest.raises(DataError, match=r"does not exist"):
        _check(str(tmp_path / "nope.mp4"), "rtfm")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.mp4: is an empty \(zero-length\) file"):
        _check(str(tmp_path / "empty.mp4"), "rtfm")
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video" * 10)
    with pytest.raises(DataError, match=r"junk.mp4: cannot"):
        _check(str(tmp_path / "junk.mp4"), "rtfm")
    with pytest.raises(DataError, match=r"unknown method 'nope': choose one of lpg, rtfm"):
        _check(str(video), "nope")
    with pytest.raises(DataError, match=r"lpg: has no trained model; train it first with `kedro run --pipelines=state_machine`"):
        _check(str(video), "lpg")
    (tmp_path / "frames").mkdir()
    with pytest.raises(DataError, match="folder without image frames"):
        _check(str(tmp_path / "frames"), "rtfm")
    with pytest.raises(DataError, match="video_path: not set"):
        _check(None, "rtfm")


def test_valid_request_and_index(tmp_path):
    video = _video(tmp_path / "clip.avi")
    req = _check(str(video), "rtfm")
    assert req == {"video_path": str(video), "name": "clip", "n_frames": 12, "method": "rtfm", "object_level": False}
    index = pd.DataFrame({"video_id": ["train_a", "train_b", "train_c", "test_01"], "split": ["train", "val", "train", "test"],
                          "source_path": ["a", "b", "c", "d"], "n_frames": [5, 5, 5, 5], "fps": [10.0] * 4,
                          "height": [16] * 4, "width": [24] * 4, "video_label": [0, 0, 1, 1], "anomaly_types": [""] * 4})
    out = nodes.build_inference_index(req, index, {**INFERENCE, "n_reference_videos": 3})
    assert out["video_id"].tolist() == ["input", "train_b", "train_a"]        # val normals first, no abnormal one
    assert (out["split"] == "test").all() and out.loc[0, "height"] == 16 and out.loc[0, "width"] == 24
    frames = nodes.inference_frames(out, {"train_a": lambda: "A", "train_b": lambda: "B"})
    assert frames["input"]().shape == (12, 16, 24, 3) and frames["train_b"]() == "B"


def test_outputs_threshold_and_no_partial_folder(tmp_path):
    T = 20
    scores = pd.DataFrame({"video_id": ["input"] * T + ["ref"] * 100, "frame": list(range(T)) + list(range(100)),
                           "score": list(np.r_[np.zeros(10), np.ones(10)]) + list(np.linspace(0, 0.5, 100))})
    index = pd.DataFrame({"video_id": ["input", "ref"], "fps": [10.0, 10.0]})
    frames = {"input": lambda: np.zeros((T, 16, 24, 3), np.uint8)}
    req = {"name": "clip", "method": "rtfm", "object_level": False}
    params = {**INFERENCE, "threshold_percentile": 99, "output_dir": str(tmp_path / "out")}
    summary = nodes.write_outputs(req, scores, index, frames, params)
    assert summary["threshold"] == pytest.approx(np.percentile(np.linspace(0, 0.5, 100), 99))
    table = pd.read_csv(tmp_path / "out" / "clip" / "scores.csv")
    assert list(table.columns) == ["frame", "time_s", "score", "is_anomaly"]
    assert table["is_anomaly"].tolist() == [0] * 10 + [1] * 10 and table["time_s"].iloc[10] == pytest.approx(1.0)
    assert (tmp_path / "out" / "clip" / "score_curve.png").stat().st_size > 0
    cap = cv2.VideoCapture(str(tmp_path / "out" / "clip" / "overlay.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == T
    cap.release()

    def broken():
        raise DataError("clip", "decoding failed")

    with pytest.raises(DataError):
        nodes.write_outputs({**req, "name": "clip2"}, scores, index, {"input": broken}, params)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip"]    # nothing partial left


def test_pick_scores_takes_the_one_method_that_ran():
    df = pd.DataFrame({"video_id": ["input"] * 2, "frame": [0, 1], "score": [0.1, 0.2], "seed": [1, 1]})
    out = nodes.pick_scores({"method": "rtfm"}, nodes.SKIPPED, df, nodes.SKIPPED)
    assert out.columns.tolist() == ["video_id", "frame", "score"] and len(out) == 2
