"""IoU + Hungarian tracker on hand-made boxes."""

import numpy as np

from vad_kedro.vision.tracking import IoUTracker, track_detections


def _box(x, y, w=10, h=30, s=1.0):
    return [x, y, x + w, y + h, s]


def test_identity_kept_through_a_crossing():
    # A walks right, B walks left on nearly the same row; they overlap for several frames
    dets = []
    for t in range(30):
        dets.append(np.array([_box(10 + 3 * t, 50), _box(97 - 3 * t, 52)]))
    df = track_detections(dets, iou_threshold=0.2, max_age=5, min_hits=2)
    assert df["track_id"].nunique() == 2
    for tid, g in df.groupby("track_id"):
        dx = np.diff(g.sort_values("frame")["x1"].to_numpy())
        assert np.all(dx > 0) or np.all(dx < 0), f"track {tid} switched identity: {dx}"
        assert len(g) == 30


def test_identity_kept_when_crossing_merges_detections():
    # while crossing, the detector sees one merged blob (the union): one track coasts on its velocity
    dets = []
    for t in range(30):
        a, b = _box(10 + 3 * t, 50), _box(97 - 3 * t, 50)
        if 13 <= t <= 16:
            dets.append(np.array([[min(a[0], b[0]), 50, max(a[2], b[2]), 80, 1.0]]))
        else:
            dets.append(np.array([a, b]))
    df = track_detections(dets, iou_threshold=0.2, max_age=6, min_hits=2)
    assert df["track_id"].nunique() == 2
    before = df[df["frame"] == 5].set_index("track_id")["x1"]
    after = df[df["frame"] == 25].set_index("track_id")["x1"]
    left_id = before.idxmin()          # A starts on the left ...
    assert after.idxmax() == left_id   # ... and ends on the right with the same id


def test_new_id_after_a_gap_longer_than_max_age_and_same_id_after_a_short_gap():
    dets = [np.array([_box(40, 40)]) for _ in range(40)]
    for t in range(10, 25):           # 15-frame gap > max_age
        dets[t] = np.zeros((0, 5))
    for t in range(30, 33):           # 3-frame gap <= max_age
        dets[t] = np.zeros((0, 5))
    df = track_detections(dets, iou_threshold=0.3, max_age=5, min_hits=2)
    ids = df.groupby("frame")["track_id"].first()
    assert ids.loc[:9].nunique() == 1
    assert ids.loc[25:].nunique() == 1
    assert ids.loc[0] != ids.loc[25]
    assert sorted(df["track_id"].unique()) == [0, 1]   # renumbered from 0 by first frame


def test_birth_needs_min_hits_and_output_dtypes():
    dets = [np.zeros((0, 5)) for _ in range(10)]
    dets[2] = np.array([_box(0, 0)])   # one-frame flicker: never confirmed
    for t in range(4, 10):
        dets[t] = np.array([_box(50, 50, s=0.7)])
    df = track_detections(dets, min_hits=3)
    assert df["frame"].tolist() == list(range(4, 10))   # confirmed track keeps its first rows
    assert str(df["frame"].dtype) == "int32" and str(df["track_id"].dtype) == "int32"
    assert str(df["x1"].dtype) == "float32"
    assert np.allclose(df["score"], 0.7)


def test_min_score_filters_detections():
    trk = IoUTracker(min_hits=1, min_score=0.5)
    trk.update(0, np.array([_box(0, 0, s=0.4), _box(50, 0, s=0.9)]))
    df = trk.results()
    assert len(df) == 1 and df["x1"].iloc[0] == 50


def test_fill_gaps_interpolates_short_gaps_only():
    # one walker detected at frames 0-4, missed at 5-7 (3 frames), seen 8-12, missed 13-18 (6), seen 19-22
    seen = set(range(0, 5)) | set(range(8, 13)) | set(range(19, 23))
    dets = [np.array([_box(10 + 2 * t, 40, s=0.5 + 0.01 * t)]) if t in seen else np.zeros((0, 5))
            for t in range(23)]
    plain = track_detections(dets, max_age=10, min_hits=2)
    filled = track_detections(dets, max_age=10, min_hits=2, fill_gaps=4)
    assert set(plain["frame"]) == seen
    assert set(filled["frame"]) == seen | {5, 6, 7}          # the 6-frame gap stays open
    assert filled["track_id"].nunique() == 1
    row = filled[filled["frame"] == 6].iloc[0]
    assert row["x1"] == 10 + 2 * 6 and row["x2"] == 20 + 2 * 6      # on the line between frames 4 and 8
    assert row["score"] == np.float32(0.5 + 0.04)                     # the lower of the two matches' scores
    assert (filled["frame"].diff().dropna() >= 0).all()              # still sorted by frame
