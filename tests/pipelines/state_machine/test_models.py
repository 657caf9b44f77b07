"""S4 layer and State Machine Module (spec section 6: SMM shapes, causality, seeds) + local-pattern feature."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vad_kedro.pipelines.state_machine.models import (
    LocalPatternEncoder,
    S4Layer,
    StateMachineModule,
    hippo_legs,
    legs_nplr,
    local_pattern,
)


def test_hippo_legs_matrix_and_nplr_reconstruction():
    a, b, p = hippo_legs(4)
    # A_nk = -sqrt(2n+1)sqrt(2k+1) (n > k), -(n+1) (n = k), 0 (n < k); B_n = sqrt(2n+1)
    assert a[2, 0] == pytest.approx(-np.sqrt(5) * 1.0)
    assert a[3, 1] == pytest.approx(-np.sqrt(7) * np.sqrt(3))
    assert np.allclose(np.diag(a), [-1, -2, -3, -4])
    assert np.allclose(np.triu(a, 1), 0)
    assert np.allclose(b, np.sqrt([1, 3, 5, 7]))
    w, pt, bt, v = legs_nplr(8)
    assert np.allclose(w.real, -0.5)
    vf = np.concatenate([v, v.conj()], 1)
    wf, pf, bf = (np.concatenate([x, x.conj()]) for x in (w, pt, bt))
    a8, b8, _ = hippo_legs(8)
    assert np.abs(vf @ (np.diag(wf) - np.outer(pf, pf.conj())) @ vf.conj().T - a8).max() < 1e-10
    assert np.abs(vf @ bf - b8).max() < 1e-10


@pytest.mark.parametrize("mode", ["nplr", "diag"])
@pytest.mark.parametrize("conv", ["fft", "toeplitz"])
def test_s4_kernel_matches_direct_recurrence(mode, conv):
    torch.manual_seed(0)
    layer = S4Layer(3, d_state=8, mode=mode, conv=conv, dt_min=0.05, dt_max=0.5)
    u = torch.randn(2, 3, 12)
    conv_out = layer.ssm(u)
    rec_out = layer.recurrent_forward(u)
    assert conv_out.shape == (2, 3, 12)
    assert torch.allclose(conv_out, rec_out, atol=1e-5)
    # the kernel itself: impulse response of the recurrence
    impulse = torch.zeros(1, 3, 12)
    impulse[..., 0] = 1.0
    k = layer.kernel(12)
    assert torch.allclose(layer.recurrent_forward(impulse)[0] - layer.d[:, None] * impulse[0], k, atol=1e-5)


@pytest.mark.parametrize("mode", ["nplr", "diag"])
def test_s4_layer_is_causal(mode):
    torch.manual_seed(1)
    layer = S4Layer(4, d_state=8, mode=mode).eval()
    u = torch.randn(2, 4, 20)
    t = 11
    u2 = u.clone()
    u2[..., t] += 5.0
    y1, y2 = layer(u), layer(u2)
    assert torch.equal(y1[..., :t], y2[..., :t])
    assert not torch.allclose(y1[..., t], y2[..., t])


@pytest.mark.parametrize("d", [64, 768])
def test_smm_shapes(d):
    torch.manual_seed(0)
    model = StateMachineModule(d).eval()
    y, shapes = model(torch.randn(5, 33, d), return_shapes=True)
    assert y.shape == (5, d)
    assert shapes == [(5, 32, 16), (5, 16, 8), (5, 8, 4)]
    assert model.decoder.in_features == 8  # the reference code's 8-d bottleneck


def test_smm_fixed_seed_identical():
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = StateMachineModule(16, s4_mode="nplr").eval()
        outs.append(model(torch.ones(2, 33, 16)))
    assert torch.equal(outs[0], outs[1])


def test_local_pattern_equals_weighted_sum():
    torch.manual_seed(0)
    q = torch.randn(3, 32, 16)
    t = torch.randn(3, 16)
    f = local_pattern(q, t)
    expected = torch.stack([
        sum(torch.nn.functional.cosine_similarity(q[b, j], t[b], dim=0) * q[b, j] for j in range(32)) for b in range(3)
    ])
    assert f.shape == (3, 16)
    assert torch.allclose(f, expected, atol=1e-5)


def test_local_encoder_shapes_and_frozen_patch_encoder():
    enc = LocalPatternEncoder(5, d_model=32, d_token=16, grid=8)
    q = enc.queries(torch.rand(2, 3, 64, 64))
    assert q.shape == (2, 32, 32)
    assert enc.text().shape == (5, 32)
    assert not any(p.requires_grad for p in enc.patch.parameters())
