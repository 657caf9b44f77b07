"""Snippet descriptors (motion_appearance), crops, box HOG and box flow histograms."""

import cv2
import numpy as np
import pytest

from vad_kedro.vision.crops import crop_windows
from vad_kedro.vision.descriptors import (
    HOG_BINS,
    N_CHANNELS,
    box_flow_histograms,
    box_hog,
    motion_appearance_dim,
)
from vad_kedro.vision.flow import compute_flow
from vad_kedro.vision.snippets import motion_appearance, n_snippets


def _panning_video(t=20, h=96, w=128, step=3, seed=0):
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur((rng.random((h, w + step * t, 3)) * 255).astype(np.uint8), (15, 15), 0)
    return np.stack([big[:, step * k:step * k + w] for k in range(t)])


def test_crop_windows_order_and_flips():
    five = crop_windows(100, 200, 5, crop_fraction=0.5)
    assert [(c.y0, c.y1, c.x0, c.x1) for c in five] == [(0, 50, 0, 50), (0, 50, 150, 200), (50, 100, 0, 50),
                                                        (50, 100, 150, 200), (25, 75, 75, 125)]
    ten = crop_windows(100, 200, 10, crop_fraction=0.5)
    assert [c.flip for c in ten] == [False] * 5 + [True] * 5
    assert all((a.y0, a.x0) == (b.y0, b.x0) for a, b in zip(ten[:5], ten[5:], strict=True))
    assert len(crop_windows(100, 200, 1)) == 1 and crop_windows(100, 200, 1)[0].x0 == (200 - 88) // 2
    with pytest.raises(ValueError, match="n_crops"):
        crop_windows(100, 200, 3)


@pytest.mark.parametrize("n_crops", [1, 2, 5, 10])
def test_motion_appearance_shapes(n_crops):
    frames = _panning_video(t=20)
    flow = compute_flow(frames, downsample=2)
    feats = motion_appearance(frames, flow, n_crops=n_crops, grid=2)
    assert feats.shape == (n_snippets(20), n_crops, motion_appearance_dim(2)) == (2, n_crops, 4 * N_CHANNELS)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()


def test_hof_encodes_motion_direction_and_speed():
    frames = _panning_video(t=17, step=3)          # content moves left: flow u ~ -3
    flow = compute_flow(frames, downsample=1)
    f = motion_appearance(frames, flow, n_crops=1, grid=1, power=1.0)[0, 0]
    hof = f[HOG_BINS:HOG_BINS + 9]
    assert hof.argmax() == 4                       # bins centred on 0, 45, ... degrees: 180 deg = bin 4
    assert hof[4] == pytest.approx(3.0, abs=0.6)   # density = mean magnitude in px/frame
    still = motion_appearance(frames[:1].repeat(17, 0), np.zeros_like(flow), n_crops=1, grid=1, power=1.0)[0, 0]
    assert still[HOG_BINS + 8] > 0 and still[HOG_BINS:HOG_BINS + 8].sum() == 0   # only the static bin


def test_flipped_twin_matches_the_mirrored_video():
    frames = _panning_video(t=16, h=96, w=128)
    flow = compute_flow(frames, downsample=1)
    f = motion_appearance(frames, flow, n_crops=10, grid=2)
    mirrored_flow = flow[:, :, ::-1].astype(np.float32)
    mirrored_flow[..., 0] *= -1
    g = motion_appearance(np.ascontiguousarray(frames[:, :, ::-1]), mirrored_flow, n_crops=10, grid=2)
    # crop c+5 is the mirror of crop c; in the mirrored video, the mirror of the top-left crop is the top-right one
    for twin, mirrored in [(5, 1), (6, 0), (7, 3), (8, 2), (9, 4)]:
        err = np.abs(f[:, twin] - g[:, mirrored]).mean() / np.abs(f[:, twin]).mean()
        assert err < 0.02


def test_box_flow_histogram_values():
    flow = np.zeros((10, 20, 2), np.float32)
    flow[:, :10, 0] = 2.0            # left half moves right (0 deg)
    flow[:, 10:, 1] = -1.5           # right half moves up (-90 deg = 270 deg)
    boxes = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [5, 0, 15, 10]], float)
    v = box_flow_histograms(flow, boxes, n_bins=8)
    assert v.shape == (3, 8)
    np.testing.assert_allclose(v[0], [2, 0, 0, 0, 0, 0, 0, 0], atol=1e-5)
    np.testing.assert_allclose(v[1], [0, 0, 0, 0, 0, 0, 1.5, 0], atol=1e-5)
    np.testing.assert_allclose(v[2], [1, 0, 0, 0, 0, 0, 0.75, 0], atol=1e-5)
    mean_mag = box_flow_histograms(flow, boxes, n_bins=1)
    np.testing.assert_allclose(mean_mag[:, 0], [2, 1.5, 1.75], atol=1e-5)
    # boxes in working-resolution pixels on a half-resolution flow grid
    half = box_flow_histograms(flow, boxes * 2, n_bins=8, scale_x=0.5, scale_y=0.5)
    np.testing.assert_allclose(half, v, atol=1e-5)


def test_box_hog_is_opencv_hog_of_the_resized_crop():
    rng = np.random.default_rng(0)
    gray = (rng.random((60, 80)) * 255).astype(np.uint8)
    boxes = np.array([[10, 5, 30, 50], [70, 40, 90, 70]], float)   # second box reaches outside
    d = box_hog(gray, boxes)
    assert d.shape == (2, 3780)
    ref = cv2.HOGDescriptor().compute(cv2.resize(gray[5:50, 10:30], (64, 128))).reshape(-1)
    np.testing.assert_allclose(d[0], ref, rtol=1e-5)
    assert np.isfinite(d).all()
