"""Maximum local error (MLE) of the CR stream (Cao, Lu & Zhang, IEEE TIP 2024, Sec. III-B).

For a crop with true frame x and recovered frame x_hat ([3,R,R], normalised):
    e = sqrt(sum_c (x - x_hat)^2) / 3   (``channel_l2``)   or   e = mean_c (x - x_hat)^2
    l = mean_c |x - x_hat|
    score_p = max AvgPool2d(p, stride)(e) + lam_l1 * max AvgPool2d(p, stride)(l)
one value per patch size p. p = R gives the frame-level error (the mean over the crop).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: Patch sizes of the reference at R = 256; scaled by R/256 for other crop sizes.
REFERENCE_PATCHES: tuple[int, ...] = (256, 128, 64, 32, 16)
REFERENCE_STRIDE = 8


def patch_sizes_for(resolution: int, patches: Sequence[int] | None = None) -> list[int]:
    """Patch sizes for crop side R: given ones (clipped to [1, R]) or the reference ones scaled by R/256."""
    if patches is None:
        patches = [max(1, round(p * resolution / 256)) for p in REFERENCE_PATCHES]
    return [int(min(max(1, p), resolution)) for p in patches]


def stride_for(resolution: int, stride: int | None = None) -> int:
    """Pooling stride: given, or the reference stride 8 scaled by R/256 (at least 1)."""
    return int(stride) if stride else max(1, round(REFERENCE_STRIDE * resolution / 256))


def error_maps(true: torch.Tensor, pred: torch.Tensor, channel_l2: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel squared-type error e and absolute error l, both [N,1,H,W], from [N,3,H,W] frames."""
    diff = true - pred
    if channel_l2:
        e = diff.square().sum(1, keepdim=True).sqrt() / diff.shape[1]
    else:
        e = diff.square().mean(1, keepdim=True)
    return e, diff.abs().mean(1, keepdim=True)


def maximum_local_error(true: torch.Tensor, pred: torch.Tensor, patch_sizes: Sequence[int], stride: int,
                        lam_l1: float = 1.0, channel_l2: bool = True) -> torch.Tensor:
    """MLE scores [N, P] for true / recovered frames [N,3,H,W], one column per patch size."""
    e, l1 = error_maps(true, pred, channel_l2)
    cols = []
    for p in patch_sizes:
        s = F.avg_pool2d(e, p, stride).amax(dim=(1, 2, 3))
        if lam_l1:
            s = s + lam_l1 * F.avg_pool2d(l1, p, stride).amax(dim=(1, 2, 3))
        cols.append(s)
    return torch.stack(cols, 1)


def fuse_crops(scores: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """Fuse per-crop scores [N, n_crops, ...] over crops: ``mean`` (ShanghaiTech) or ``max`` (Avenue)."""
    if how == "mean":
        return scores.mean(1)
    if how == "max":
        return scores.amax(1)
    raise ValueError(f"two_stream: crop fusion must be 'mean' or 'max', got {how!r}")
