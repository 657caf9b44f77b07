"""Losses of SMAFF (Jiang et al., J. Electron. Imaging 33(6) 063035, 2024; ``3_train.py``, ``6_attention_fusion.py``).

Memory stage: compactness L_c (gather), separateness L_s (triplet, "spread") and reconstruction L_r;
total ``L = 5·L_c + L_s + L_r``. Fusion stage: BCE on pseudo-normal / pseudo-anomaly frame sets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .models import memory_probabilities, memory_read


def compactness_loss(query: torch.Tensor, items: torch.Tensor, k: int = 5) -> torch.Tensor:
    """L_c = MSE(Σ_{top-k} w_j m_j, q) with w = softmax(p_topk) (a softmax of probabilities, as coded)."""
    p = memory_probabilities(query, items)
    top_p, idx = torch.topk(p, k, dim=1)
    w = F.softmax(top_p, dim=1)
    gathered = torch.einsum("nk,nkd->nd", w, items[idx])
    return F.mse_loss(gathered, query)


def separateness_loss(query: torch.Tensor, items: torch.Tensor, k: int = 5, margin: float = 1.0) -> torch.Tensor:
    """L_s = TripletMargin(margin)(q, m_(1), m_(k+1)): rank 1 is the positive, rank k+1 (6th) the negative."""
    p = memory_probabilities(query, items)
    _, idx = torch.topk(p, k + 1, dim=1)
    pos = items[idx[:, 0]]
    neg = items[idx[:, k]]
    return F.triplet_margin_loss(query, pos, neg, margin=margin)


def reconstruction_loss(query: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """L_r = MSE(q, q̂) with the memory read q̂ = p M."""
    return F.mse_loss(memory_read(query, items), query)


def memory_loss(
    query: torch.Tensor,
    items: torch.Tensor,
    compactness_weight: float = 5.0,
    separateness_weight: float = 1.0,
    reconstruction_weight: float = 1.0,
    k: int = 5,
    margin: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total memory loss ``5·L_c + L_s + L_r`` (the reference's lamda1/lamda2 are unused) and its parts."""
    lc = compactness_loss(query, items, k)
    ls = separateness_loss(query, items, k, margin)
    lr = reconstruction_loss(query, items)
    total = compactness_weight * lc + separateness_weight * ls + reconstruction_weight * lr
    return total, {"compactness": float(lc.detach()), "separateness": float(ls.detach()), "reconstruction": float(lr.detach())}


def pseudo_bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean BCE of sigmoid(logits) against a constant target (0 = pseudo-normal, 1 = pseudo-anomaly)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def fusion_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over input combinations of the mean BCE: ``logits`` [C, F] (one row per combination of
    pseudo-normal / pseudo-anomalous modalities), ``targets`` [C] (0 or 1). With the combinations
    (N,N)→0, (A,A)→1, (A,N)→1, (N,A)→1 this is the reference's ``loss1 + loss2 + loss3 + loss4``."""
    return F.binary_cross_entropy_with_logits(logits, targets[:, None].expand_as(logits),
                                              reduction="none").mean(dim=1).sum()
