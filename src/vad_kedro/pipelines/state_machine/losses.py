"""Losses of LPG (Jiang, ICLR 2025)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .models import query_caption_similarity


def caption_alignment_loss(q: torch.Tensor, text: torch.Tensor, target: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """Image-text alignment of the query former (BLIP-2 ITC-style, max over queries).

    ``logits_k = max_q cos(Q_q, e_k) / tau`` over the K caption embeddings ``text`` [K,D];
    cross-entropy to the crop's caption id ``target`` [B].
    """
    logits = query_caption_similarity(q, text).amax(dim=1) / tau  # [B,K]
    return F.cross_entropy(logits, target)


def next_step_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SMM training loss: MSE between the predicted and the observed 34th local pattern (mean over batch and dims)."""
    return F.mse_loss(pred, target)


def window_anomaly_score(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-window anomaly score a_w = mean_d (y_hat - x_34)^2 -> [B] (the reference stores -a_w as normality)."""
    return ((pred - target) ** 2).mean(dim=-1)
