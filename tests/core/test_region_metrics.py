"""RBDC / TBDC (Street Scene criteria) on hand-made boxes; every expected value is worked out in the comments.

Notation: fpr = false positives / test frames, rbdr / tbdr = region / track detection rates; the curve starts
at (0, 0), has one point per distinct score (descending) and is continued flat to fpr = 1.
"""

import math

import pandas as pd
import pytest

from vad_kedro.core import metrics as M
from vad_kedro.core.errors import DataError

A = (0, 0, 10, 10)        # area 100
B = (20, 20, 30, 30)      # far from A
FAR = (50, 50, 60, 60)    # overlaps nothing


def frames(n: int, video: str = "v") -> pd.DataFrame:
    return pd.DataFrame({"video_id": video, "frame": range(n)})


def boxes(rows: list[tuple], with_score: bool = True) -> pd.DataFrame:
    """Rows (frame, box, score) or, for ground truth, (frame, box, track_id); all in video "v"."""
    last = "score" if with_score else "track_id"
    return pd.DataFrame([{"video_id": "v", "frame": f, "x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3], last: x}
                         for f, b, x in rows], columns=[*M.REGION_COLUMNS, last])


def gt(rows: list[tuple]) -> pd.DataFrame:
    return boxes(rows, with_score=False)


def test_perfect_detection_and_a_duplicate_box_are_one_not_a_false_positive():
    # 2 regions of track 1; detections on both (0.9, 0.8) and a second box on the frame-0 region (0.7).
    # thresholds 0.9, 0.8, 0.7: fpr 0, 0, 0 (the duplicate overlaps a region: not a false positive);
    # rbdr 1/2, 1, 1 -> curve (0,0) (0,.5) (0,1) (0,1) then flat to (1,1): area 1. tbdr 1 from 0.9: area 1.
    det = boxes([(0, A, 0.9), (1, A, 0.8), (0, (1, 0, 10, 10), 0.7)])
    out = M.region_track_detection(det, gt([(0, A, 1), (1, A, 1)]), frames(4))
    assert out["rbdc"] == pytest.approx(1.0)
    assert out["tbdc"] == pytest.approx(1.0)
    assert (out["n_regions"], out["n_tracks"], out["n_boxes"], out["region_note"]) == (2, 1, 3, "")


def test_one_missed_region_halves_both_criteria():
    # Tracks 1 (A) and 2 (B) in frame 0; one detection on A (0.9). fpr 0; rbdr 1/2 and tbdr 1/2 carried to
    # fpr 1: areas 0.5 and 0.5.
    out = M.region_track_detection(boxes([(0, A, 0.9)]), gt([(0, A, 1), (0, B, 2)]), frames(4))
    assert out["rbdc"] == pytest.approx(0.5)
    assert out["tbdc"] == pytest.approx(0.5)


def test_false_positive_above_the_true_detection_costs_its_fpr():
    # Region A in frame 0; a false positive in frame 1 (0.9) above the true detection (0.5); 4 frames.
    # 0.9: fpr 1/4, rbdr 0; 0.5: fpr 1/4, rbdr 1. Area: 0 on [0, .25], then 1 on [.25, 1] -> 0.75.
    out = M.region_track_detection(boxes([(1, FAR, 0.9), (0, A, 0.5)]), gt([(0, A, 1)]), frames(4))
    assert out["rbdc"] == pytest.approx(0.75)
    assert out["tbdc"] == pytest.approx(0.75)


def test_threshold_sweep_area():
    # Track 1 with regions in frames 0 and 1; 4 frames. Scores: FP 0.9 (frame 2), TP 0.8 (frame 0),
    # FP 0.7 (frame 3), TP 0.6 (frame 1).
    # points (fpr, rbdr): (0,0) (.25,0) (.25,.5) (.5,.5) (.5,1), then (1,1).
    # area = .25*0 + .25*.5 + .5*1 = 0.625. tbdr (beta .1: one region of two is enough): 0,0,1,1,1 ->
    # area = .25*0 + .75*1 = 0.75.
    det = boxes([(2, FAR, 0.9), (0, A, 0.8), (3, FAR, 0.7), (1, A, 0.6)])
    out = M.region_track_detection(det, gt([(0, A, 1), (1, A, 1)]), frames(4))
    assert out["rbdc"] == pytest.approx(0.625)
    assert out["tbdc"] == pytest.approx(0.75)


def test_tied_scores_enter_together():
    # A true (frame 0) and a false (frame 1) detection share the score 0.5; 4 frames. One point (.25, 1):
    # trapezoid (0,0)-(.25,1) = .125, then 1 on [.25, 1] = .75 -> 0.875 (one at a time it would be .75 or 1).
    out = M.region_track_detection(boxes([(1, FAR, 0.5), (0, A, 0.5)]), gt([(0, A, 1)]), frames(4))
    assert out["rbdc"] == pytest.approx(0.875)


def test_points_past_one_false_positive_per_frame_do_not_count():
    # 2 frames; three false positives (0.9, 0.8, 0.7) before the true detection (0.6): fpr .5, 1, 1.5, 1.5.
    # Only (0,0) (.5,0) (1,0) are kept: area 0.
    det = boxes([(1, FAR, 0.9), (1, B, 0.8), (0, FAR, 0.7), (0, A, 0.6)])
    assert M.region_track_detection(det, gt([(0, A, 1)]), frames(2))["rbdc"] == pytest.approx(0.0)


def test_iou_alpha_boundary():
    # Box (0,0,10,1) inside A: IoU 10/100 = 0.1 >= alpha 0.1 -> detects A (rbdc 1).
    # Box (0,0,10,0.5): IoU 5/100 = 0.05 -> a false positive (1 of 4 frames) and A missed (rbdc 0).
    assert M.region_track_detection(boxes([(0, (0, 0, 10, 1), 0.9)]), gt([(0, A, 1)]), frames(4))["rbdc"] == 1.0
    out = M.region_track_detection(boxes([(0, (0, 0, 10, 0.5), 0.9)]), gt([(0, A, 1)]), frames(4))
    assert out["rbdc"] == 0.0


def test_track_needs_beta_of_its_regions():
    # One track of 10 regions (frames 0-9, box A), one detection on frame 0 (0.9): rbdr 1/10 -> rbdc 0.1.
    # beta 0.1: 1/10 detected is enough -> tbdc 1; beta 0.2: not enough -> tbdc 0.
    det, regions = boxes([(0, A, 0.9)]), gt([(f, A, 7) for f in range(10)])
    out = M.region_track_detection(det, regions, frames(10), beta=0.1)
    assert (out["rbdc"], out["tbdc"]) == (pytest.approx(0.1), pytest.approx(1.0))
    assert M.region_track_detection(det, regions, frames(10), beta=0.2)["tbdc"] == 0.0


def test_same_track_id_in_two_videos_is_two_tracks():
    # Track id 1 in videos v and w (frame 0, box A each); only v's is detected: tbdc 1/2, not 1.
    regions = pd.concat([gt([(0, A, 1)]), gt([(0, A, 1)]).assign(video_id="w")], ignore_index=True)
    out = M.region_track_detection(boxes([(0, A, 0.9)]), regions, pd.concat([frames(2), frames(2, "w")]))
    assert out["n_tracks"] == 2
    assert out["tbdc"] == pytest.approx(0.5)


def test_no_detections_scores_zero():
    out = M.region_track_detection(boxes([]), gt([(0, A, 1)]), frames(4))
    assert (out["rbdc"], out["tbdc"], out["n_boxes"]) == (0.0, 0.0, 0)


def test_no_regions_or_no_tracks_give_nan_and_say_why():
    out = M.region_track_detection(boxes([(0, A, 0.9)]), gt([]), frames(4))
    assert math.isnan(out["rbdc"]) and math.isnan(out["tbdc"])
    assert "no ground-truth anomalous regions" in out["region_note"]
    out = M.region_track_detection(boxes([(0, A, 0.9)]), gt([(0, A, -1)]), frames(4))   # regions from masks
    assert out["rbdc"] == 1.0 and math.isnan(out["tbdc"])
    assert "no track ids" in out["region_note"]


@pytest.mark.parametrize("bad, message", [
    (boxes([(7, A, 0.9)]), "not test frames"),                           # frame 7 of a 4-frame video
    (boxes([(0, A, 0.9)]).assign(video_id="x"), "not test frames"),     # unknown video
    (boxes([(0, A, float("nan"))]), "NaN or inf"),
    (boxes([(0, (10, 0, 0, 10), 0.9)]), "x2 < x1"),
    (boxes([(0, A, 0.9)]).drop(columns="score"), "missing columns"),
])
def test_bad_detections_raise(bad, message):
    with pytest.raises(DataError, match=message):
        M.region_track_detection(bad, gt([(0, A, 1)]), frames(4))


def test_bad_regions_and_frames_raise():
    with pytest.raises(DataError, match="not test frames"):
        M.region_track_detection(boxes([(0, A, 0.9)]), gt([(9, A, 1)]), frames(4))
    with pytest.raises(DataError, match="no test frame"):
        M.region_track_detection(boxes([(0, A, 0.9)]), gt([(0, A, 1)]), frames(0))
    with pytest.raises(ValueError, match="alpha and beta"):
        M.region_track_detection(boxes([(0, A, 0.9)]), gt([(0, A, 1)]), frames(4), alpha=0)
