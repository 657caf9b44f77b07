"""Losses (recovery, mutual, Siamese hashing) and the maximum local error against hand-computed values."""

from __future__ import annotations

import math

import torch

from vad_kedro.pipelines.two_stream import mle
from vad_kedro.pipelines.two_stream.losses import hash_pair_loss, mutual_loss, recovery_loss


def test_recovery_loss_hand_value():
    pred, target = torch.zeros(1, 3, 1, 2, 2), torch.full((1, 3, 1, 2, 2), 2.0)
    assert math.isclose(float(recovery_loss(pred, target, 1.0)), 4.0 + 2.0)
    assert math.isclose(float(recovery_loss(pred, target, 0.5)), 4.0 + 1.0)


def test_mutual_loss_orthogonal_heads_is_zero():
    codes = torch.eye(32)[:8].unsqueeze(0)  # 8 mutually orthogonal heads of length 32
    assert float(mutual_loss(codes)) == 0.0


def test_mutual_loss_averages_the_28_head_pairs():
    codes = torch.eye(32)[:8].clone()
    codes[1] = codes[0]  # one identical pair (cos 1), 27 orthogonal pairs
    assert math.isclose(float(mutual_loss(codes.unsqueeze(0))), (1 / 32) / 28, rel_tol=1e-6)
    same = torch.ones(1, 8, 32)  # all pairs identical
    assert math.isclose(float(mutual_loss(same)), 1 / 32, rel_tol=1e-6)


def test_hash_pair_loss():
    h = torch.eye(32)[:8].flatten().unsqueeze(0)
    assert math.isclose(float(hash_pair_loss(h, h.clone(), 8)), 0.0, abs_tol=1e-6)  # identical, orthogonal heads
    ones = torch.ones(1, 256)
    assert math.isclose(float(hash_pair_loss(ones, ones, 8, 0.64)), 0.64 / 32, rel_tol=1e-5)


def test_patch_sizes_scale_with_resolution():
    assert mle.patch_sizes_for(256) == [256, 128, 64, 32, 16]
    assert mle.patch_sizes_for(64) == [64, 32, 16, 8, 4]
    assert mle.stride_for(256) == 8 and mle.stride_for(64) == 2 and mle.stride_for(64, 4) == 4


def test_mle_full_patch_equals_frame_mean_error():
    torch.manual_seed(0)
    true, pred = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    s = mle.maximum_local_error(true, pred, [16], stride=8, lam_l1=1.0, channel_l2=True)
    d = true - pred
    expect = d.square().sum(1).sqrt().div(3).mean((1, 2)) + d.abs().mean((1, 2, 3))
    assert torch.allclose(s[:, 0], expect, atol=1e-6)
    s2 = mle.maximum_local_error(true, pred, [16], stride=8, lam_l1=0.0, channel_l2=False)
    assert torch.allclose(s2[:, 0], d.square().mean((1, 2, 3)), atol=1e-6)


def test_mle_hand_computed_map():
    """4x4 error map, p = 2, stride 2: max of the four 2x2 block means."""
    true = torch.zeros(1, 3, 4, 4)
    pred = torch.zeros(1, 3, 4, 4)
    pred[0, :, 0, 0] = 3.0  # abs error 3 in every channel at (0,0); channel-L2 e = sqrt(27)/3
    pred[0, :, 3, 3] = 1.0
    s = mle.maximum_local_error(true, pred, [2, 4], stride=2, lam_l1=1.0, channel_l2=True)
    e00 = math.sqrt(27) / 3
    assert math.isclose(float(s[0, 0]), e00 / 4 + 3 / 4, rel_tol=1e-6)  # block (0,0) wins
    e33 = math.sqrt(3) / 3
    assert math.isclose(float(s[0, 1]), (e00 + e33) / 16 + 4 / 16, rel_tol=1e-6)  # whole frame


def test_mle_local_patch_beats_frame_level():
    true = torch.zeros(1, 3, 64, 64)
    pred = true.clone()
    pred[0, :, 20:36, 30:46] = 1.0  # one 16x16 error patch
    s = mle.maximum_local_error(true, pred, [64, 16], stride=2)
    assert float(s[0, 1]) > float(s[0, 0])
    assert math.isclose(float(s[0, 1]), math.sqrt(3) / 3 + 1.0, rel_tol=1e-5)  # patch fully covered


def test_fuse_crops():
    x = torch.tensor([[[1.0, 4.0], [3.0, 0.0]]])  # [N=1, crops=2, P=2]
    assert torch.equal(mle.fuse_crops(x, "mean"), torch.tensor([[2.0, 2.0]]))
    assert torch.equal(mle.fuse_crops(x, "max"), torch.tensor([[3.0, 4.0]]))
