"""Hash tables (keys, counts, running-mean centres, read-only lookups) and score alignment / fusion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.pipelines.two_stream import fusion, nodes
from vad_kedro.pipelines.two_stream.tables import HashTables, pack_keys, retrieval_scores

from .conftest import tiny_params


def test_pack_keys_rounds_bits():
    codes = np.array([[0.9, 0.1, 0.7], [0.2, 0.6, 0.4]])
    assert pack_keys(codes).tolist() == [1 + 4, 2]


def _code(bits: list[int], level: float) -> np.ndarray:
    return np.where(np.array(bits) == 1, level, 1 - level)


def test_insert_twice_counts_and_mean_centre():
    tables = HashTables(n_heads=1, code_len=4)
    a, b = _code([1, 0, 1, 0], 0.9), _code([1, 0, 1, 0], 0.7)  # same key
    tables.insert(a[None, None])
    tables.insert(b[None, None])
    assert tables.counts[0].tolist() == [2]
    np.testing.assert_allclose(tables.centres[0][0], (a + b) / 2, rtol=1e-6)
    # one batch with both codes gives the same bucket
    other = HashTables(1, 4)
    other.insert(np.stack([a, b])[:, None])
    np.testing.assert_allclose(other.centres[0], tables.centres[0])
    # running mean over batches of different sizes
    tables.insert(np.stack([a, a])[:, None])
    np.testing.assert_allclose(tables.centres[0][0], (3 * a + b) / 4, rtol=1e-6)


def test_unseen_key_gives_sqrt_code_len_and_lookup_is_read_only():
    tables = HashTables(n_heads=2, code_len=32)
    rng = np.random.default_rng(0)
    train = rng.uniform(0.05, 0.95, size=(10, 2, 32))
    train[1, 1] = np.where(train[0, 1] > 0.5, 0.9, 0.1)  # same head-1 bucket as code 0
    tables.insert(train)
    before = [k.copy() for k in tables.keys], [c.copy() for c in tables.counts]
    query = train[:1].copy()
    query[0, 0] = 1 - query[0, 0]  # head 0: flipped bits -> absent key; head 1: stored key
    d = tables.distances(query)
    assert math.isclose(float(d[0, 0]), math.sqrt(32), rel_tol=1e-6)
    assert math.isclose(float(d[0, 1]), float(np.linalg.norm(train[0, 1] - train[1, 1])) / 2, rel_tol=1e-5)
    for old, new in zip(before[0], tables.keys, strict=True):
        assert np.array_equal(old, new)
    for old, new in zip(before[1], tables.counts, strict=True):
        assert np.array_equal(old, new)
    empty = HashTables(2, 32).distances(query)
    assert np.allclose(empty, math.sqrt(32))


def test_state_dict_round_trip_is_plain_tensors():
    tables = HashTables(3, 8)
    tables.insert(np.random.default_rng(1).uniform(size=(20, 3, 8)))
    state = tables.state_dict()
    assert set(state) == {f"table{i}.{k}" for i in range(3) for k in ("keys", "counts", "centres")}
    back = HashTables.from_state_dict(state, 3, 8)
    q = np.random.default_rng(2).uniform(size=(5, 3, 8))
    np.testing.assert_array_equal(back.distances(q), tables.distances(q))


def test_retrieval_scores_min_heads_mean_crops():
    d = np.array([[[3.0, 1.0], [2.0, 4.0], [5.0, 0.0]]])  # [M=1, crops=3, heads=2]
    assert retrieval_scores(d).tolist() == [1.0]


def test_alignment_lengths_and_offsets():
    t = 100
    cr = np.arange(t - 16, dtype=float)
    kr = np.arange(t - 56, dtype=float)
    a = fusion.align(cr, t, 16)
    assert len(cr) + 16 == t and len(a) == t and a[:16].tolist() == [0] * 16 and a[16] == 0 and a[-1] == t - 17
    b = fusion.align(kr, t, 32)
    assert len(kr) + 56 == t and b[:32].sum() == 0 and b[-24:].sum() == 0 and b[33] == 1
    fused = fusion.fuse(fusion.stream_to_frames(cr, t, 16, 9), fusion.stream_to_frames(kr, t, 32, 32))
    assert fused.shape == (t,)
    with pytest.raises(ValueError):
        fusion.align(np.zeros(90), 100, 16)


def test_minmax_and_smoothing():
    np.testing.assert_allclose(fusion.minmax(np.array([2.0, 4.0, 3.0])), [0, 1, 0.5])
    assert fusion.minmax(np.full(4, 7.0)).tolist() == [0, 0, 0, 0]
    s = fusion.stream_to_frames(np.array([1.0, 0.0, 0.0]), 5, 1, sigma=0)
    assert s.tolist() == [0, 1, 0, 0, 0]
    smooth = fusion.stream_to_frames(np.array([1.0, 0.0, 0.0]), 5, 1, sigma=1)
    assert smooth.argmax() == 1 and smooth.sum() < 1  # constant (zero) mode loses mass at the border
    raw = fusion.stream_to_frames(np.array([3.0, 5.0]), 5, 2, sigma=0, normalise=False)
    assert raw.tolist() == [0, 0, 3, 5, 0]
    assert fusion.expand(np.array([1.0, 2.0]), 20, 16).tolist() == [1.0] * 16 + [2.0] * 4


def _fusion_inputs(lengths: dict[str, int]):
    index = pd.DataFrame({"video_id": ["train_a"] + list(lengths), "split": ["train"] + ["test"] * len(lengths),
                          "n_frames": [100] + list(lengths.values()), "video_label": [0] + [1] * len(lengths)})
    rng = np.random.default_rng(0)
    cr = {v: rng.uniform(size=(max(t - 16, 0), 5)).astype(np.float32) for v, t in lengths.items()}
    kr = {v: rng.uniform(size=max(t - 56, 0)).astype(np.float32) for v, t in lengths.items()}
    p = tiny_params()
    cr_model = {"selection": {"index": 2},
                "to_frames": {"front": 16, "span": 16, "repeat": 1, "sigma": nodes.cr_sigma(p)}}
    kr_model = {"to_frames": {**nodes.kr_layout(p), "sigma": nodes.kr_sigma(p)}}
    return cr, kr, index, (cr_model, kr_model, nodes.fusion_checkpoint(p))


def test_fuse_scores_one_row_per_frame_and_short_videos():
    lengths = {"test_long": 120, "test_mid": 40, "test_short": 10}
    cr, kr, index, models = _fusion_inputs(lengths)
    outs = nodes.fuse_scores(cr, kr, index, *models)
    for df in outs:
        assert list(df.columns) == ["video_id", "frame", "score"]
        counts = df.groupby("video_id").size().to_dict()
        assert counts == lengths
        assert np.isfinite(df["score"]).all()
    cr_df, kr_df, fused, nominmax = outs
    # KR missing for test_mid (< 57 frames), both missing for test_short: constant zero stream
    assert (kr_df.loc[kr_df.video_id == "test_mid", "score"] == 0).all()
    assert (fused.loc[fused.video_id == "test_short", "score"] == 0).all()
    long = fused.video_id == "test_long"
    np.testing.assert_allclose(fused.loc[long, "score"], cr_df.loc[long, "score"] + kr_df.loc[long, "score"])
    # CR stream uses the selected patch column, min-max then smoothing (sigma 9) of the zero-padded scores
    expect = fusion.stream_to_frames(cr["test_long"][:, 2], 120, 16, 9.0)
    np.testing.assert_allclose(cr_df.loc[long, "score"], expect)
    # without per-video min-max: one min-max per stream over all test videos
    lo = min(v[:, 2].min() for v in cr.values() if len(v))
    hi = max(v[:, 2].max() for v in cr.values() if len(v))
    klo, khi = min(v.min() for v in kr.values() if len(v)), max(v.max() for v in kr.values() if len(v))
    expect = (fusion.stream_to_frames((cr["test_long"][:, 2] - lo) / (hi - lo), 120, 16, 9.0, normalise=False)
              + fusion.stream_to_frames((kr["test_long"] - klo) / (khi - klo), 120, 32, 32.0, normalise=False))
    np.testing.assert_allclose(nominmax.loc[long, "score"], expect)


def test_fuse_scores_length_mismatch_names_the_video():
    cr, kr, index, models = _fusion_inputs({"test_x": 80})
    cr["test_x"] = cr["test_x"][:-3]
    with pytest.raises(DataError, match="test_x"):
        nodes.fuse_scores(cr, kr, index, *models)
