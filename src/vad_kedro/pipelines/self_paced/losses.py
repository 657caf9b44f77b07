"""Self-paced refinement (SPR) weights and the weighted reconstruction loss.

Yu et al., CVPR 2022 (arXiv 2108.01975), Sec. 3.3 "Self-paced refinement"; reference code
yuguangnudt/LBR_SPR ``train.py`` (``sp_mode`` mixture / hard / linear / huber).

Per mini-batch, with s_i the eval-mode SSE of sample i and (mu, sigma) the batch mean and unbiased std:

    lambda1 = mu + sigma
    lambda2 = max(mu + (4 - r t) sigma, lambda1)       # t counts batches after warm-up
    mixture: w = 1 if s <= lambda1; 0 if s >= lambda2; else lambda1 (lambda2 - s) / (s (lambda2 - lambda1))
"""

from __future__ import annotations

import torch

SP_MODES = ("mixture", "hard", "linear", "huber")


def spr_thresholds(mu: float, sigma: float, t: int, shrink_rate: float) -> tuple[float, float]:
    """(lambda1, lambda2) of the schedule: lambda2 starts at mu + 4 sigma and reaches lambda1 after 3/r batches."""
    lam1 = mu + sigma
    lam2 = max(mu + (4.0 - shrink_rate * t) * sigma, lam1)
    return lam1, lam2


def threshold_weights(s: torch.Tensor, lam1: float, lam2: float, mode: str = "mixture") -> torch.Tensor:
    """Weights of errors ``s`` for given thresholds (``lam2`` >= ``lam1``); ``mode`` in :data:`SP_MODES`.

    mixture: 1 up to lambda1, 0 from lambda2, lambda1 (lambda2 - s) / (s (lambda2 - lambda1)) between.
    hard / linear / huber use lambda = lambda2: 1 below, 0 above; 1 - s / lambda below, 0 above;
    1 below, lambda / s above.
    """
    if mode not in SP_MODES:
        raise ValueError(f"sp_mode must be one of {SP_MODES}, got {mode!r}")
    one, zero = torch.ones_like(s), torch.zeros_like(s)
    if mode == "mixture":
        span = lam2 - lam1
        if span <= 0:
            w = torch.where(s <= lam1, one, zero)
        else:
            mid = lam1 * (lam2 - s) / (s.clamp_min(1e-12) * span)
            w = torch.where(s <= lam1, one, torch.where(s >= lam2, zero, mid))
    elif mode == "hard":
        w = torch.where(s < lam2, one, zero)
    elif mode == "linear":
        w = torch.where(s < lam2, 1.0 - s / max(lam2, 1e-12), zero)
    else:  # huber
        w = torch.where(s < lam2, one, lam2 / s.clamp_min(1e-12))
    return w.clamp(0.0, 1.0)


def spr_weights(scores: torch.Tensor, t: int, shrink_rate: float, mode: str = "mixture") -> torch.Tensor:
    """Sample weights in [0, 1] for one batch of per-sample reconstruction errors ``scores`` [B].

    mu and sigma (unbiased) are the batch's; ``t`` counts batches after warm-up. A batch of one sample
    (no std) gets weight 1. ``mode`` is one of :data:`SP_MODES`.
    """
    if mode not in SP_MODES:
        raise ValueError(f"sp_mode must be one of {SP_MODES}, got {mode!r}")
    s = scores.detach().double()
    if s.numel() < 2:
        return torch.ones_like(scores)
    lam1, lam2 = spr_thresholds(float(s.mean()), float(s.std(unbiased=True)), t, shrink_rate)
    return threshold_weights(s, lam1, lam2, mode).to(scores.dtype)


def per_sample_sse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors of each sample, [B]."""
    return (pred - target).pow(2).flatten(1).sum(1)


def weighted_reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """L = sum_i w_i SSE_i / (B C H W); with every w = 1 this is the mean squared error."""
    return (weights.to(pred.dtype) * per_sample_sse(pred, target)).sum() / target.numel()
