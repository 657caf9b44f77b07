"""Losses of CRKR (Cao, Lu & Zhang, IEEE TIP 2024, arXiv 2209.02899).

- :func:`recovery_loss`: CR stream, L = MSE(x_hat, x) + lambda * L1(x_hat, x).
- :func:`mutual_loss`: iL2SH mutual loss M(h), the mean cosine similarity (divided by the code length)
  between the L2-normalised codes of every pair of heads.
- :func:`hash_pair_loss`: the Siamese hashing loss 1 - cos(vec h, vec h') + w * (M(h) + M(h')) / 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def recovery_loss(pred: torch.Tensor, target: torch.Tensor, lam_l1: float = 1.0) -> torch.Tensor:
    """MSE + ``lam_l1`` * L1 between the recovered and the true target frame."""
    return F.mse_loss(pred, target) + lam_l1 * F.l1_loss(pred, target)


def mutual_loss(codes: torch.Tensor) -> torch.Tensor:
    """M(h) = mean over head pairs i < j of <h_i/|h_i|, h_j/|h_j|> / r for codes [B, b, r].

    Zero for mutually orthogonal heads; the mean is over the b(b-1)/2 pairs and the batch.
    """
    b, r = codes.shape[1], codes.shape[2]
    unit = codes / codes.norm(p=2, dim=-1, keepdim=True).clamp_min(1e-12)
    sim = unit @ unit.transpose(1, 2) / r  # [B, b, b]
    rows, cols = torch.triu_indices(b, b, offset=1)
    return sim[:, rows, cols].mean()


def hash_pair_loss(h: torch.Tensor, h_pos: torch.Tensor, n_heads: int, mutual_weight: float = 0.64) -> torch.Tensor:
    """1 - cos(vec h, vec h') + ``mutual_weight`` * (M(h) + M(h')) / 2 for flattened codes [B, b*r]."""
    cos = F.cosine_similarity(h, h_pos, dim=1).mean()
    m = 0.5 * (mutual_loss(h.view(h.shape[0], n_heads, -1)) + mutual_loss(h_pos.view(h_pos.shape[0], n_heads, -1)))
    return 1.0 - cos + mutual_weight * m
