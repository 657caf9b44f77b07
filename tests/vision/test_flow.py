"""Optical flow alignment (t -> t+1, last frame repeats T-2 -> T-1), units and storage."""

import numpy as np
import pytest

from vad_kedro.vision.flow import compute_flow, upsample_flow


def _textured(h, w, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (7, 7), 0)


def _square_video(positions, h=64, w=96):
    bg = _textured(h, w)
    tex = _textured(16, 16, seed=1)
    frames = []
    for x in positions:
        f = bg.copy()
        f[24:40, x:x + 16] = tex
        frames.append(f)
    return np.stack(frames)


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_is_t_to_t_plus_1_and_last_frame_repeats(method):
    # still for frames 0..5, then moving +3 px/frame: flow[t] (t -> t+1) is zero for t < 5, +3 from t = 5
    pos = [20] * 6 + [20 + 3 * k for k in range(1, 7)]
    frames = _square_video(pos)
    flow = compute_flow(frames, method=method, downsample=1, dis_finest_scale=0)
    assert flow.shape == (len(pos), 64, 96, 2) and flow.dtype == np.float16
    u = lambda t: float(np.median(flow[t, 28:36, pos[t] + 4:pos[t] + 12, 0].astype(np.float32)))  # noqa: E731
    assert abs(u(3)) < 0.5 and abs(u(4)) < 0.5
    assert u(5) == pytest.approx(3.0, abs=0.8)
    assert u(8) == pytest.approx(3.0, abs=0.8)
    np.testing.assert_array_equal(flow[-1], flow[-2])


def test_downsampled_flow_keeps_working_resolution_units():
    pos = [10 + 4 * k for k in range(8)]
    frames = _square_video(pos)
    flow = compute_flow(frames, downsample=2, compute_scale=0.5, dis_finest_scale=0)
    assert flow.shape == (8, 32, 48, 2)
    # square interior on the half-resolution grid: rows 14..18, columns (x+4)/2 .. (x+12)/2
    u = float(np.median(flow[3, 14:18, (pos[3] + 4) // 2:(pos[3] + 12) // 2, 0].astype(np.float32)))
    assert u == pytest.approx(4.0, abs=1.0)
    up = upsample_flow(flow[3], 64, 96)
    assert up.shape == (64, 96, 2) and up.dtype == np.float32


def test_single_frame_video_has_zero_flow_and_bad_method_is_rejected():
    frames = _square_video([5])
    flow = compute_flow(frames)
    assert flow.shape == (1, 32, 48, 2) and not flow.any()
    with pytest.raises(ValueError, match="flow.method"):
        compute_flow(_square_video([5, 6]), method="raft")
