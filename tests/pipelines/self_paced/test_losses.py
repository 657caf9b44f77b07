"""SPR weights, schedule and loss (spec section 3, SPR; section 6, SPR weights)."""

import numpy as np
import pytest
import torch

from vad_kedro.pipelines.self_paced import losses
from vad_kedro.pipelines.self_paced.losses import (
    spr_thresholds,
    spr_weights,
    threshold_weights,
    weighted_reconstruction_loss,
)
from vad_kedro.pipelines.self_paced.training import TrainConfig, train_block


def _batch_with_stats():
    s = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 20.0], dtype=torch.float64)
    return s, float(s.mean()), float(s.std(unbiased=True))


def test_thresholds_schedule():
    mu, sigma, r = 2.0, 0.5, 0.05
    assert spr_thresholds(mu, sigma, 0, r) == (2.5, 4.0)  # lambda2 = mu + 4 sigma at t = 0
    assert spr_thresholds(mu, sigma, 20, r)[1] == pytest.approx(2.0 + 3.0 * 0.5)
    for t in (60, 61, 1000):  # t >= 3 / r: lambda2 = lambda1
        lam1, lam2 = spr_thresholds(mu, sigma, t, r)
        assert lam2 == lam1 == 2.5


def test_mixture_weights_at_thresholds_and_monotone():
    lam1, lam2 = 2.0, 5.0
    probe = torch.linspace(0.5, 7.0, 66, dtype=torch.float64)
    w = threshold_weights(probe, lam1, lam2)
    assert threshold_weights(torch.tensor([lam1, lam2], dtype=torch.float64), lam1, lam2).tolist() == [1.0, 0.0]
    assert np.all(np.diff(w.numpy()) <= 1e-12)
    assert w[probe <= lam1].eq(1).all() and w[probe >= lam2].eq(0).all()
    mid = 3.5
    assert threshold_weights(torch.tensor([mid], dtype=torch.float64), lam1, lam2).item() == pytest.approx(
        lam1 * (lam2 - mid) / (mid * (lam2 - lam1)))


def test_spr_weights_use_batch_statistics():
    s, mu, sigma = _batch_with_stats()
    w = spr_weights(s, 40, 0.05)
    lam1, lam2 = mu + sigma, mu + 2.0 * sigma
    expected = [1.0 if v <= lam1 else 0.0 if v >= lam2 else lam1 * (lam2 - v) / (v * (lam2 - lam1)) for v in s.tolist()]
    assert w.tolist() == pytest.approx(expected)
    assert w[:5].eq(1).all()  # small errors keep full weight
    assert w[-1] == 0  # the outlier (20 > lambda2) is dropped
    # after 3 / r batches lambda2 = lambda1: a hard cut at mu + sigma
    late = spr_weights(s, 60, 0.05)
    assert torch.equal(late, (s <= mu + sigma).double())


def test_other_modes():
    s, mu, sigma = _batch_with_stats()
    lam = spr_thresholds(mu, sigma, 40, 0.05)[1]
    assert lam == pytest.approx(mu + 2 * sigma) and lam < 20
    hard = spr_weights(s, 40, 0.05, "hard")
    assert torch.equal(hard, (s < lam).double())
    huber = spr_weights(s, 40, 0.05, "huber")
    assert huber[-1] == pytest.approx(lam / 20.0) and huber[:-1].eq(1).all()
    lin = spr_weights(s, 40, 0.05, "linear")
    assert lin[0] == pytest.approx(1 - 1.0 / lam) and lin[-1] == 0
    with pytest.raises(ValueError):
        spr_weights(s, 0, 0.05, "bogus")


def test_single_sample_batch_has_weight_one():
    assert spr_weights(torch.tensor([3.0]), 5, 0.05).item() == 1.0


def test_unit_weights_give_mse():
    torch.manual_seed(0)
    pred, target = torch.rand(4, 15, 32, 32), torch.rand(4, 15, 32, 32)
    loss = weighted_reconstruction_loss(pred, target, torch.ones(4))
    assert loss.item() == pytest.approx(torch.nn.functional.mse_loss(pred, target).item(), rel=1e-6)
    half = weighted_reconstruction_loss(pred, target, torch.tensor([1.0, 1.0, 0.0, 0.0]))
    sse = (pred - target).pow(2).flatten(1).sum(1)
    assert half.item() == pytest.approx((sse[:2].sum() / pred.numel()).item(), rel=1e-6)


def _spy(monkeypatch):
    calls = []
    real = losses.spr_weights

    def spy(s, t, r, mode="mixture"):
        calls.append(t)
        return real(s, t, r, mode)

    monkeypatch.setattr("vad_kedro.pipelines.self_paced.training.spr_weights", spy)
    return calls


def test_warmup_batches_use_unit_weights(monkeypatch):
    calls = _spy(monkeypatch)
    raw = np.random.default_rng(0).integers(0, 255, (20, 5, 32, 32, 3), dtype=np.uint8)
    cfg = TrainConfig(epochs=3, warmup_epochs=2, batch_size=8, nf=4, shrink_rate=0.05)
    res = train_block(raw, None, cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
    # 3 batches per epoch; SPR only in the last epoch, t counting from 0
    assert calls == [0, 1, 2]
    assert res.history["mean_weight"][:2] == [1.0, 1.0]
    assert res.sse["raw"].shape == (20,)


def test_no_refinement_never_weights(monkeypatch):
    calls = _spy(monkeypatch)
    raw = np.random.default_rng(0).integers(0, 255, (20, 5, 32, 32, 3), dtype=np.uint8)
    cfg = TrainConfig(epochs=2, warmup_epochs=0, batch_size=8, nf=4, refine=False)
    res = train_block(raw, None, cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert calls == [] and res.history["mean_weight"] == [1.0, 1.0]
