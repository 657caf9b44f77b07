"""Readers of box / track / pose files (vad_kedro.io.boxes) on tiny fabricated files."""

import json

import numpy as np
import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.io.boxes import parse_image_id, read_alphapose, read_json_boxes, read_mot_tracks


def test_mot_tracks(tmp_path):
    p = tmp_path / "01.txt"
    p.write_text("1,8,77.60,16.19,4.74,17.53\n# comment\n2,8,78,16,5,18,0.7,-1,-1,-1\n\n1,3,10,10,5,5\n")
    df = read_mot_tracks(p)
    assert df[["frame", "track_id"]].values.tolist() == [[0, 3], [0, 8], [1, 8]]
    row = df.iloc[1]
    assert row["x2"] == pytest.approx(77.60 + 4.74) and row["y2"] == pytest.approx(16.19 + 17.53)
    assert df["score"].tolist() == [1.0, 1.0, 0.7]
    assert read_mot_tracks(p, frame_base=0)["frame"].min() == 1


@pytest.mark.parametrize("text, problem", [
    ("1,2,3,4,5\n", "at least 6 fields"),
    ("1,2,3,nan,5,6\n", "NaN/inf"),
    ("1,2,3,4,-5,6\n", "negative"),
    ("1,2,3,4,5,6\n1,2,3,4,5,6\n", "twice in one frame"),
    ("0,2,3,4,5,6\n", "below frame_base"),
    ("1,a,3,4,5,6\n", "non-numeric"),
])
def test_mot_tracks_bad_input(tmp_path, text, problem):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(DataError, match=problem) as err:
        read_mot_tracks(p)
    assert "bad.txt" in str(err.value)


def test_mot_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_mot_tracks(tmp_path / "none.txt")


def test_json_idx_boxes_regionclip_style(tmp_path):
    p = tmp_path / "01_0014_det-results.json"
    p.write_text(json.dumps([
        {"image_id": "000.jpg", "category_id": 1, "score": 2.83, "box": [588.7, 67.2, 25.9, 50.1], "idx": 1},
        {"image_id": "000.jpg", "category_id": 1, "score": 2.79, "box": [616.7, 76.4, 30.1, 49.4], "idx": 2},
        {"image_id": "001.jpg", "category_id": 1, "score": 2.84, "box": [588.7, 67.2, 25.8, 50.1], "idx": [1]},
    ]))
    df = read_json_boxes(p)
    assert df[["frame", "track_id"]].values.tolist() == [[0, 1], [0, 2], [1, 1]]
    assert df.loc[0, "x2"] == pytest.approx(588.7 + 25.9)
    assert df.loc[1, "score"] == pytest.approx(2.79)


@pytest.mark.parametrize("entries, problem", [
    ([{"image_id": "000.jpg", "box": [1, 2, 3, 4]}], "missing identity key 'idx'"),
    ([{"image_id": "000.jpg", "box": [1, 2, 3], "idx": 1}], "list of 4 numbers"),
    ([{"box": [1, 2, 3, 4], "idx": 1}], "missing 'image_id'"),
    ([{"image_id": "abc.jpg", "box": [1, 2, 3, 4], "idx": 1}], "no frame number"),
    ([{"image_id": "000.jpg", "box": [1, 2, float("nan"), 4], "idx": 1}], "NaN"),
    ({"foo": 1}, "JSON list"),
])
def test_json_idx_bad_input(tmp_path, entries, problem):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(entries))
    with pytest.raises(DataError, match=problem):
        read_json_boxes(p)


def test_json_not_json(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("[{")
    with pytest.raises(DataError, match="not valid JSON"):
        read_json_boxes(p)


def test_xyxy_and_image_id_forms(tmp_path):
    p = tmp_path / "b.json"
    p.write_text(json.dumps([{"image_id": 5, "box": [1, 2, 11, 22], "idx": 4}]))
    df = read_json_boxes(p, box_format="xyxy", frame_base=1)
    assert df.iloc[0][["frame", "x1", "y1", "x2", "y2"]].tolist() == [4, 1, 2, 11, 22]
    assert parse_image_id("frame_0012.png") == 12
    assert parse_image_id("img/007.jpg", frame_base=1) == 6


def test_alphapose(tmp_path):
    kps = np.arange(51, dtype=float).tolist()
    p = tmp_path / "pose.json"
    p.write_text(json.dumps([
        {"image_id": "0003.jpg", "category_id": 1, "keypoints": kps, "score": 0.8, "box": [1, 2, 3, 4], "idx": 7},
        {"image_id": "0001.jpg", "category_id": 1, "keypoints": kps, "score": 0.9, "box": [5, 6, 7, 8], "idx": 2},
    ]))
    df, k = read_alphapose(p)
    assert df["frame"].tolist() == [1, 3] and df["track_id"].tolist() == [2, 7]
    assert k.shape == (2, 17, 3) and k.dtype == np.float32
    assert k[0, 1].tolist() == [3, 4, 5]
    assert df.loc[0, ["x1", "y1", "x2", "y2"]].tolist() == [5, 6, 12, 14]


def test_alphapose_bad_keypoints(tmp_path):
    p = tmp_path / "pose.json"
    p.write_text(json.dumps([{"image_id": "0.jpg", "keypoints": [1, 2, 3], "box": [1, 2, 3, 4], "idx": 1}]))
    with pytest.raises(DataError, match="51 numbers"):
        read_alphapose(p)
    p.write_text(json.dumps([{"image_id": "0.jpg", "keypoints": [float("inf")] * 51, "idx": 1}]))
    with pytest.raises(DataError, match="NaN/inf in keypoints"):
        read_alphapose(p)
