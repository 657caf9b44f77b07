"""Segmentation: mean pooling (process_feat) vs linear interpolation (cv2.resize), spec §3.5 / §7."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vad_kedro.pipelines.weak_supervision.segments import (
    interpolate_segments,
    pool_segments,
    segment,
    segment_bounds,
)


def _loop_pool(feat: np.ndarray, n: int = 32) -> np.ndarray:
    """The per-crop loop of the spec: r = floor(linspace(0, T, n+1)); mean of x[r_i:r_i+1] or x[r_i]."""
    out = np.zeros((n, feat.shape[1]), dtype=np.float32)
    r = np.linspace(0, len(feat), n + 1).astype(int)
    for i in range(n):
        out[i] = np.mean(feat[r[i]: r[i + 1]], 0) if r[i] != r[i + 1] else feat[r[i]]
    return out


@pytest.mark.parametrize("t", [1, 5, 32, 33, 200])
@pytest.mark.parametrize("mode", ["pool", "interpolate"])
def test_any_length_gives_32_rows(t, mode):
    x = np.random.default_rng(t).normal(size=(t, 3, 8)).astype(np.float32)
    assert segment(x, 32, mode).shape == (32, 3, 8)


@pytest.mark.parametrize("mode", ["pool", "interpolate"])
def test_constant_input_unchanged(mode):
    x = np.full((37, 2, 5), 1.25, dtype=np.float32)
    np.testing.assert_array_equal(segment(x, 32, mode), np.full((32, 2, 5), 1.25, dtype=np.float32))


def test_pooling_t64_is_pairwise_means():
    x = np.arange(64 * 2, dtype=np.float32).reshape(64, 1, 2)
    expected = (x[0::2] + x[1::2]) / 2
    np.testing.assert_array_equal(pool_segments(x), expected)


def test_pooling_short_video_repeats_snippets():
    x = np.arange(5, dtype=np.float32).reshape(5, 1, 1)
    r = segment_bounds(5)
    out = pool_segments(x)[:, 0, 0]
    # empty ranges take x[r_i]: every segment equals the snippet its range starts at
    np.testing.assert_array_equal(out, r[:-1].astype(np.float32))


@pytest.mark.parametrize("t", [1, 5, 33, 200, 777])
def test_pooling_bit_identical_to_per_crop_loop(t):
    x = (np.random.default_rng(t).normal(size=(t, 4, 16)) * 7).astype(np.float32)
    ref = np.stack([_loop_pool(np.ascontiguousarray(x[:, c])) for c in range(4)], axis=1)
    np.testing.assert_array_equal(pool_segments(x), ref)


@pytest.mark.parametrize("t", [1, 5, 32, 33, 200])
def test_interpolation_equals_cv2_resize(t):
    x = np.random.default_rng(t).normal(size=(t, 10, 24)).astype(np.float32)
    # S3R's reference layout: (C, T, N) image, width (time) resized to 32
    ref = cv2.resize(np.ascontiguousarray(x.transpose(2, 0, 1)), (32, 24), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(interpolate_segments(x), ref.transpose(1, 2, 0))
    # and the documented arithmetic: src = (i + 1/2) T/32 - 1/2 clamped to [0, T-1]
    src = np.clip((np.arange(32) + 0.5) * t / 32 - 0.5, 0, t - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, t - 1)
    w = (src - i0)[:, None, None]
    np.testing.assert_allclose(interpolate_segments(x), (1 - w) * x[i0] + w * x[i1], atol=1e-5)


def test_pooling_differs_from_interpolation():
    # T = 96: pooling averages 3 snippets, interpolation samples at (i + 1/2) * 3 - 1/2 = 3i + 1
    x = (np.arange(96, dtype=np.float32) ** 2).reshape(96, 1, 1)
    np.testing.assert_allclose(pool_segments(x)[:2, 0, 0], [(0 + 1 + 4) / 3, (9 + 16 + 25) / 3], rtol=1e-6)
    np.testing.assert_allclose(interpolate_segments(x)[:2, 0, 0], [1.0, 16.0])
    # a linear ramp of T = 64 gives the same segments both ways (pair means = midpoints)
    ramp = np.arange(64, dtype=np.float32).reshape(64, 1, 1)
    np.testing.assert_allclose(pool_segments(ramp), interpolate_segments(ramp))


def test_single_crop_interpolation_keeps_crop_axis():
    x = np.random.default_rng(0).normal(size=(7, 1, 16)).astype(np.float32)
    assert interpolate_segments(x).shape == (32, 1, 16)


def test_bad_mode():
    with pytest.raises(ValueError):
        segment(np.zeros((3, 1, 1), np.float32), 32, "nearest")
