"""Foreground boxes: detector filters, cover filter, motion boxes, flow units (spec section 6, Boxes)."""

import numpy as np
import pytest

from vad_kedro.pipelines.self_paced.boxes import (
    box_areas,
    filter_detections,
    flow_to_frame,
    flow_unit_scale,
    motion_boxes,
    remove_covered,
    resolve_min_area,
)


def test_box_area_is_inclusive():
    assert box_areas(np.array([[0, 0, 9, 19]])).tolist() == [200.0]


def test_score_and_area_filters():
    boxes = np.array([[0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 8, 9], [-3, -2, 20, 20]], np.float32)
    scores = np.array([0.9, 0.2, 0.9, 0.5])
    out = filter_detections(boxes, scores, 0.2, 100)
    # score must be > 0.2 (not >=), area (w+1)(h+1) >= 100 (9x10 = 90 dropped); negatives clipped to 0
    assert out.tolist() == [[0, 0, 9, 9], [0, 0, 20, 20]]


def test_cover_filter_70_percent_dropped_50_percent_kept():
    big = [0, 0, 99, 99]
    inside70 = [70, 10, 79, 19]  # 10x10, shifted so 7 of 10 columns lie inside a 77-wide box below
    big2 = [0, 0, 76, 99]
    kept = remove_covered(np.array([inside70, big2], np.float32))
    assert [70, 10, 79, 19] not in kept.tolist() and len(kept) == 1
    inside50 = [72, 10, 81, 19]  # columns 72..76 inside: 5 of 10
    kept = remove_covered(np.array([inside50, big2], np.float32))
    assert len(kept) == 2 and inside50 in kept.tolist()
    # a fully contained box is dropped, the container survives
    kept = remove_covered(np.array([big, [10, 10, 19, 19]], np.float32))
    assert kept.tolist() == [big]


def test_flow_blob_yields_one_motion_box():
    flow = np.zeros((60, 80, 2), np.float32)
    flow[20:35, 30:40, 0] = 2.0  # one moving blob, u² = 4 > 1
    flow[5, 5, 1] = 3.0  # a single noisy pixel: below the area threshold
    boxes = motion_boxes(flow, np.zeros((0, 4)), min_area=25)
    assert boxes.tolist() == [[28.0, 18.0, 42.0, 37.0]]  # bounding rect grown by 2 px


def test_motion_inside_detector_box_is_ignored():
    flow = np.zeros((60, 80, 2), np.float32)
    flow[20:35, 30:40, 0] = 2.0
    det = np.array([[29, 19, 40, 35]], np.float32)
    assert motion_boxes(flow, det, min_area=25).shape == (0, 4)


def test_motion_aspect_ratio_filter():
    flow = np.zeros((60, 80, 2), np.float32)
    flow[30:32, 5:75, 0] = 2.0  # 70 x 2 strip: aspect ratio 35
    assert motion_boxes(flow, np.zeros((0, 4)), min_area=25).shape == (0, 4)


def test_flow_units_scaling():
    assert flow_unit_scale("native", 240, 360) == (1.0, 1.0)
    sx, sy = flow_unit_scale("flownet_512x384", 192, 256)
    assert (sx, sy) == (2.0, 2.0)
    with pytest.raises(ValueError):
        flow_unit_scale("furlongs", 10, 10)
    small = np.full((30, 40, 2), 0.6, np.float16)  # sub-threshold in native units: 0.72 < 1
    up = flow_to_frame(small, 60, 80, (sx, sy))
    assert up.shape == (60, 80, 2) and np.allclose(up, 1.2, atol=1e-3)
    assert len(motion_boxes(flow_to_frame(small, 60, 80), np.zeros((0, 4)), 25)) == 0
    assert len(motion_boxes(up, np.zeros((0, 4)), 25)) == 1  # scaled: 2.88 > 1


def test_min_area_resolution():
    assert resolve_min_area(100, 0.05, 240) == 100
    assert resolve_min_area(None, 0.05, 200) == pytest.approx(100.0)
