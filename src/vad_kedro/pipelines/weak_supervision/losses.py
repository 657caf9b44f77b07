"""Loss terms of the MIL baseline, RTFM, MGFN and S3R (weak_supervision spec §4–§5).

Each term is a small function of tensors so it can be checked by hand; ``method_loss`` combines
them per method with the coefficients and faithful switches of the parameters. Defaults follow
the papers where the released code has a defect; the code's behaviour stays behind a switch:

- ``rtfm_loss_form``: ``code`` (default, (|m − ‖X̄_a‖| + ‖X̄_n‖)²) | ``hinge`` (paper).
- ``smooth_mode``: ``per_video`` (default) | ``flattened`` (RTFM / S3R code: crosses videos).
- ``sparsity_norm``: ``l1`` (default, paper) | ``l2`` (code: L2 norm of the flattened scores).
- ``sparsity_on`` (MGFN): ``abnormal`` (default) | ``normal`` (code).
- ``mgfn_halves``: ``videos`` (default: video b with video b + B/2, same crop) | ``rows`` (code).
- ``s3r_macro_loss``: ``on`` (default, as released: BCE(macro, 0)) | ``off``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from vad_kedro.core.params import WeakSupervisionMethodParams

from .models import BagOutput, magnitude_topk


# ---------------------------------------------------------------------------------------- terms
def topk_bce(score_normal: torch.Tensor, score_abnormal: torch.Tensor) -> torch.Tensor:
    """BCE([s̄_n; s̄_a], [0; 1]) on the mean top-k scores (RTFM / MGFN / S3R)."""
    score = torch.cat((score_normal, score_abnormal), 0).reshape(-1)
    label = torch.cat((torch.zeros_like(score_normal), torch.ones_like(score_abnormal)), 0).reshape(-1)
    return F.binary_cross_entropy(score, label)


def feature_magnitude_loss(feat_normal: torch.Tensor, feat_abnormal: torch.Tensor, margin: float = 100.0,
                           form: str = "code") -> torch.Tensor:
    """RTFM's feature-magnitude term on the selected features (rows paired, (N·B, k, C)).

    ``code``: mean over rows of (|m − ‖mean_k X_a‖₂| + ‖mean_k X_n‖₂)² (released code).
    ``hinge``: mean over rows of max(0, m − ‖mean_k X_a‖₂ + ‖mean_k X_n‖₂) (paper, Eq. 2).
    """
    d_a = feat_abnormal.mean(1).norm(p=2, dim=1)
    d_n = feat_normal.mean(1).norm(p=2, dim=1)
    if form == "code":
        return ((margin - d_a).abs() + d_n).pow(2).mean()
    if form == "hinge":
        return F.relu(margin - d_a + d_n).mean()
    raise ValueError(f"rtfm_loss_form must be 'code' or 'hinge', got {form!r}")


def smoothness(scores: torch.Tensor, mode: str = "per_video") -> torch.Tensor:
    """Temporal smoothness Σ (s_{t+1} − s_t)² of (B, T) scores.

    ``per_video``: differences within each video only. ``flattened``: the released RTFM / S3R code
    flattens the batch first, so the last snippet of one video is compared with the first of the
    next (the last element is compared with itself).
    """
    if mode == "per_video":
        return (scores[:, 1:] - scores[:, :-1]).pow(2).sum()
    if mode == "flattened":
        flat = scores.reshape(-1)
        return (flat[1:] - flat[:-1]).pow(2).sum()
    raise ValueError(f"smooth_mode must be 'per_video' or 'flattened', got {mode!r}")


def sparsity(scores: torch.Tensor, norm: str = "l1") -> torch.Tensor:
    """Sparsity of (B, T) scores: ``l1`` = (1/B) Σ_{b,t} s (paper); ``l2`` = ‖flattened s‖₂ (code)."""
    if norm == "l1":
        return scores.sum() / scores.shape[0]
    if norm == "l2":
        return scores.reshape(-1).norm(p=2)
    raise ValueError(f"sparsity_norm must be 'l1' or 'l2', got {norm!r}")


def contrastive(a: torch.Tensor, b: torch.Tensor, y: float, margin: float = 200.0) -> torch.Tensor:
    """MGFN's L_c(a, b, y) = mean[(1−y)·d² + y·max(0, margin − d)²], d = ‖a − b‖₂ per paired row.

    ``F.pairwise_distance`` (eps 1e-6) as in the reference ``ContrastiveLoss``.
    """
    d = F.pairwise_distance(a, b, keepdim=True)
    return torch.mean((1 - y) * d.pow(2) + y * torch.clamp(margin - d, min=0.0).pow(2))


def split_halves(rows: torch.Tensor, n_crops: int, mode: str = "videos") -> tuple[torch.Tensor, torch.Tensor]:
    """Two paired halves of crop-major rows (N·B, …) for MGFN's intra-class terms.

    ``videos`` (default): video b is paired with video b + B/2 in the same crop. ``rows`` (released
    code): the flat rows are cut at N·B/2, which pairs crop c with crop c + N/2 of the same video
    (for ten-crop features, its flipped twin), so the term is ≈ 0. Returns (second, first) half,
    the argument order of the reference.
    """
    if mode == "rows":
        half = rows.shape[0] // 2
        return rows[half: 2 * half], rows[:half]
    if mode == "videos":
        per_crop = rows.reshape(n_crops, -1, *rows.shape[1:])
        half = per_crop.shape[1] // 2
        first = per_crop[:, :half].reshape(-1, *rows.shape[1:])
        second = per_crop[:, half: 2 * half].reshape(-1, *rows.shape[1:])
        return second, first
    raise ValueError(f"mgfn_halves must be 'videos' or 'rows', got {mode!r}")


def magnitude_contrast(feat_normal: torch.Tensor, feat_abnormal: torch.Tensor, n_crops: int,
                       halves: str = "videos", margin: float = 200.0, inter_weight: float = 1e-3) -> torch.Tensor:
    """MGFN's magnitude contrast: w·L_c(A, N, 1) + L_c(A¹, A², 0) + L_c(N¹, N², 0) on ‖X_sel‖₁ rows (N·B, k)."""
    mag_a = feat_abnormal.norm(p=1, dim=2)
    mag_n = feat_normal.norm(p=1, dim=2)
    loss_inter = contrastive(mag_a, mag_n, 1.0, margin)
    loss_n = contrastive(*split_halves(mag_n, n_crops, halves), 0.0, margin)
    loss_a = contrastive(*split_halves(mag_a, n_crops, halves), 0.0, margin)
    return inter_weight * loss_inter + loss_a + loss_n


def mil_ranking(scores_normal: torch.Tensor, scores_abnormal: torch.Tensor) -> torch.Tensor:
    """Sultani et al.'s ranking hinge: mean_j Σ_i max(0, 1 − max_t s_{a_i} + max_t s_{n_j})."""
    max_a = scores_abnormal.max(dim=1).values  # (Ba,)
    max_n = scores_normal.max(dim=1).values  # (Bn,)
    return F.relu(1.0 - max_a.unsqueeze(0) + max_n.unsqueeze(1)).sum(dim=1).mean()


def macro_bce(macro: torch.Tensor) -> torch.Tensor:
    """S3R's macro loss as released: BCE(macro score, 0) for every video of the batch."""
    return F.binary_cross_entropy(macro, torch.zeros_like(macro))


# ------------------------------------------------------------------------------------- per method
def switch_on(value: Any) -> bool:
    """A parameter switch: ``off`` / ``false`` / ``no`` / 0 (YAML may parse them as booleans) are off."""
    if isinstance(value, str):
        return value.strip().lower() not in ("off", "false", "no", "0", "")
    return bool(value)


def method_loss(method: str, out: BagOutput, n_normal: int, n_crops: int, cfg: WeakSupervisionMethodParams,
                model: torch.nn.Module | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Total training loss of ``method`` on a [normal | abnormal] batch; returns (loss, named parts)."""
    w = cfg["loss"]
    scores = out.scores
    s_n, s_a = scores[:n_normal], scores[n_normal:]
    parts: dict[str, torch.Tensor] = {}
    if method == "mil":
        parts["ranking"] = mil_ranking(s_n, s_a)
        parts["sparsity"] = float(w["sparsity"]) * s_a.sum()
        parts["smooth"] = float(w["smooth"]) * smoothness(s_a, "per_video")
        if model is not None:
            l2 = float(w["l2"])
            parts["l2"] = l2 * sum(p.pow(2).sum() for p in model.linear_weights())
    else:
        top = magnitude_topk(out.features, scores, n_normal, n_crops, int(cfg["k"]),
                             float(cfg["select_dropout"]), model.training if model is not None else True)
        parts["bce"] = topk_bce(top.score_normal, top.score_abnormal)
        if method in ("rtfm", "s3r"):
            parts["magnitude"] = float(w["alpha"]) * feature_magnitude_loss(
                top.feat_normal, top.feat_abnormal, float(w["margin"]), cfg["rtfm_loss_form"])
            smooth_scores = sparse_scores = s_a
        elif method == "mgfn":
            parts["contrast"] = float(w["alpha"]) * magnitude_contrast(
                top.feat_normal, top.feat_abnormal, n_crops, cfg["mgfn_halves"], float(w["margin"]),
                float(w["inter_weight"]))
            smooth_scores = scores
            sparse_scores = s_n if cfg["sparsity_on"] == "normal" else s_a
        else:
            raise ValueError(f"unknown method {method!r}")
        parts["smooth"] = float(w["smooth"]) * smoothness(smooth_scores, cfg["smooth_mode"])
        parts["sparsity"] = float(w["sparsity"]) * sparsity(sparse_scores, cfg["sparsity_norm"])
        if method == "s3r" and switch_on(cfg["s3r_macro_loss"]):
            parts["macro"] = macro_bce(out.macro)
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}
