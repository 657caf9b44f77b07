"""Torch modules of the weakly supervised detectors: MIL ranking baseline, RTFM, MGFN and S3R.

Every detector maps a batch of bags ``x`` of shape (B, N, T, C) (B videos, N crops, T snippets or
segments, C channels) to snippet features and crop-averaged snippet scores. The shared top-k
magnitude selection of RTFM / MGFN / S3R is :func:`magnitude_topk`; losses are in ``losses.py``.

References
----------
- MIL: W. Sultani, C. Chen, M. Shah, "Real-world Anomaly Detection in Surveillance Videos",
  CVPR 2018, arXiv 1801.04264 (WaqasSultani/AnomalyDetectionCVPR2018).
- RTFM: Y. Tian, G. Pang, Y. Chen, R. Singh, J. W. Verjans, G. Carneiro, "Weakly-supervised Video
  Anomaly Detection with Robust Temporal Feature Magnitude Learning", ICCV 2021, arXiv 2101.10030
  (tianyu0207/RTFM ``model.py``).
- MGFN: Y. Chen, Z. Liu, B. Zhang, W. Fok, X. Qi, Y.-C. Wu, "MGFN: Magnitude-Contrastive
  Glance-and-Focus Network for Weakly-Supervised Video Anomaly Detection", AAAI 2023,
  arXiv 2211.15098 (carolchenyx/MGFN. ``models/mgfn.py``, ``utils/utils.py``).
- S3R: J.-C. Wu, H.-Y. Hsieh, D.-J. Chen, C.-S. Fuh, T.-L. Liu, "Self-Supervised Sparse
  Representation for Video Anomaly Detection", ECCV 2022 (louisYen/S3R
  ``anomaly/models/detectors/detector.py``, ``anomaly/models/modules``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import init


@dataclass
class BagOutput:
    """What a detector returns for a batch of bags.

    ``scores`` (B, T): crop-averaged snippet scores in [0, 1]. ``features`` (B*N, T, F): the
    snippet features whose magnitudes drive the top-k selection (None for MIL). ``macro`` (B,):
    S3R's macro (dictionary) branch score, None elsewhere.
    """

    scores: torch.Tensor
    features: torch.Tensor | None = None
    macro: torch.Tensor | None = None


def xavier_init(module: nn.Module) -> None:
    """RTFM / S3R ``weight_init``: Xavier-uniform weights, zero biases for every Conv and Linear."""
    name = module.__class__.__name__
    if "Conv" in name or "Linear" in name:
        init.xavier_uniform_(module.weight)
        if module.bias is not None:
            module.bias.data.fill_(0)


def video_to_bag(features: Any, n_crops: int) -> torch.Tensor:
    """The model input contract, written once: one video's snippet features (T, N, C) → (1, N, T, C).

    Snippet features are stored time-major (T snippets, N crops, C channels); every detector takes
    bags crop-major, (B, N, T, C). Feeding (1, T, N, C) instead silently scores N "snippets" (one per
    crop, time averaged away), so the crop count is checked against the model's ``n_crops``.
    """
    x = torch.as_tensor(features, dtype=torch.float32)
    if x.ndim != 3:
        raise ValueError(f"one video's snippet features must be (T, n_crops, C), got shape {tuple(x.shape)}")
    if int(x.shape[1]) != int(n_crops):
        raise ValueError(f"snippet features of shape {tuple(x.shape)} have {x.shape[1]} crops on axis 1, the model "
                         f"expects {n_crops}: pass one video as (T, n_crops, C), time first")
    return x.transpose(0, 1).unsqueeze(0).contiguous()


def check_bags(x: torch.Tensor) -> tuple[int, int, int, int]:
    """(B, N, T, C) of a batch of bags; a clear error for any other rank."""
    if x.ndim != 4:
        raise ValueError(f"detectors take bags of shape (B, n_crops, T, C), got shape {tuple(x.shape)}; "
                         "convert one video (T, n_crops, C) with video_to_bag()")
    b, n, t, c = (int(v) for v in x.shape)
    return b, n, t, c


# --------------------------------------------------------------------------------------------------
# Shared top-k magnitude selection (RTFM §3.2; identical code in MGFN's MSNSD and S3R's detector)
# --------------------------------------------------------------------------------------------------
@dataclass
class TopK:
    """Top-k selection: mean top-k scores per video and the selected features (crop-major rows)."""

    score_normal: torch.Tensor  # (Bn,)
    score_abnormal: torch.Tensor  # (Ba,)
    feat_normal: torch.Tensor  # (N*Bn, k, F), row c*Bn + b
    feat_abnormal: torch.Tensor  # (N*Ba, k, F), row c*Ba + b


def magnitude_topk(features: torch.Tensor, scores: torch.Tensor, n_normal: int, n_crops: int, k: int = 3,
                   drop_p: float = 0.7, training: bool = True) -> TopK:
    """Select the k snippets of largest crop-averaged feature magnitude in every video.

    ``features`` (B*N, T, F) in video-major order, ``scores`` (B, T), the first ``n_normal`` videos
    normal and the rest abnormal (the split index is passed explicitly). Magnitudes are multiplied
    by a Dropout(``drop_p``) mask of ones in training (abnormal mask drawn first, as in the
    reference code), so the selection is randomised. Selected features are returned crop-major
    (row ``c * B + b``), the order every reference implementation builds with its per-crop loop.
    """
    bn, t, f = features.shape
    b = bn // n_crops
    k = min(k, t)
    mags = features.norm(p=2, dim=2).view(b, n_crops, t).mean(1)  # (B, T)
    mag_n, mag_a = mags[:n_normal], mags[n_normal:]
    mask_a = F.dropout(torch.ones_like(mag_a), drop_p, training)
    idx_a = torch.topk(mag_a * mask_a, k, dim=1)[1]  # (Ba, k)
    mask_n = F.dropout(torch.ones_like(mag_n), drop_p, training)
    idx_n = torch.topk(mag_n * mask_n, k, dim=1)[1]

    def gather(feats: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        nb = idx.shape[0]
        crop_major = feats.view(nb, n_crops, t, f).transpose(0, 1)  # (N, nb, T, F)
        index = idx.view(1, nb, k, 1).expand(n_crops, nb, k, f)
        return torch.gather(crop_major, 2, index).reshape(n_crops * nb, k, f)

    split = n_normal * n_crops
    return TopK(
        score_normal=torch.gather(scores[:n_normal], 1, idx_n).mean(1),
        score_abnormal=torch.gather(scores[n_normal:], 1, idx_a).mean(1),
        feat_normal=gather(features[:split], idx_n),
        feat_abnormal=gather(features[split:], idx_a),
    )


# --------------------------------------------------------------------------------------------------
# MIL ranking baseline (Sultani et al. 2018)
# --------------------------------------------------------------------------------------------------
class MILRanker(nn.Module):
    """Sultani et al.'s MLP C→512→32→1: ReLU, Dropout 0.6, sigmoid, Glorot-normal init.

    Input bags are crop-averaged and every segment / snippet is L2-normalised (the original
    normalised C3D fc6 segment features) inside ``forward``, so training and testing see the
    same transform.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int] = (512, 32), dropout: float = 0.6) -> None:
        super().__init__()
        dims = [in_dim, *hidden, 1]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            lin = nn.Linear(dims[i], dims[i + 1])
            init.xavier_normal_(lin.weight)
            init.zeros_(lin.bias)
            layers.append(lin)
            if i < len(dims) - 2:
                if i == 0:
                    layers.append(nn.ReLU())
                layers.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> BagOutput:
        """(B, N, T, C) -> scores (B, T)."""
        check_bags(x)
        x = F.normalize(x.mean(1), p=2, dim=-1)
        return BagOutput(scores=torch.sigmoid(self.net(x)).squeeze(-1))

    def linear_weights(self) -> list[torch.Tensor]:
        """Weights that carry the Keras ``l2(1e-3)`` penalty."""
        return [m.weight for m in self.net if isinstance(m, nn.Linear)]


# --------------------------------------------------------------------------------------------------
# RTFM: multi-scale temporal network (MTN) + score head
# --------------------------------------------------------------------------------------------------
class NonLocal1d(nn.Module):
    """Non-local block without softmax: f = θᵀφ / T, out = Norm₀(W (f g)) + x (RTFM ``_NonLocalBlockND``).

    The output normalisation (BatchNorm for RTFM, the same for S3R) starts at zero weight and
    bias, so the block is the identity at initialisation.
    """

    def __init__(self, channels: int, inner: int | None = None) -> None:
        super().__init__()
        inner = inner or max(channels // 2, 1)
        self.inner = inner
        self.g = nn.Conv1d(channels, inner, 1)
        self.W = nn.Sequential(nn.Conv1d(inner, channels, 1), nn.BatchNorm1d(channels))
        init.constant_(self.W[1].weight, 0)
        init.constant_(self.W[1].bias, 0)
        self.theta = nn.Conv1d(channels, inner, 1)
        self.phi = nn.Conv1d(channels, inner, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, C, T) -> (b, C, T)."""
        g_x = self.g(x).transpose(1, 2)  # (b, T, inner)
        theta_x = self.theta(x).transpose(1, 2)  # (b, T, inner)
        phi_x = self.phi(x)  # (b, inner, T)
        f = torch.matmul(theta_x, phi_x)
        f = f / f.size(-1)
        y = torch.matmul(f, g_x).transpose(1, 2).contiguous()
        return self.W(y) + x


class Aggregate(nn.Module):
    """RTFM's MTN: pyramid of dilated convolutions (PDC) + temporal self-attention (TSA) + fusion.

    PDC: three Conv1d(C→w, k3, dilation=padding=d ∈ {1,2,4}) → ReLU → BN. TSA: Conv1d(C→w, k1,
    no bias) → ReLU → non-local. Fusion: concat (4w) → Conv1d(4w→C, k3, no bias) → ReLU → BN,
    plus the input. With C = 2048 and w = 512 this is the published module.
    """

    def __init__(self, in_dim: int, width: int = 512) -> None:
        super().__init__()
        self.pdc = nn.ModuleList(
            nn.Sequential(nn.Conv1d(in_dim, width, 3, dilation=d, padding=d), nn.ReLU(), nn.BatchNorm1d(width))
            for d in (1, 2, 4)
        )
        self.tsa_in = nn.Sequential(nn.Conv1d(in_dim, width, 1, bias=False), nn.ReLU())
        self.non_local = NonLocal1d(width)
        self.fuse = nn.Sequential(nn.Conv1d(4 * width, in_dim, 3, padding=1, bias=False), nn.ReLU(),
                                  nn.BatchNorm1d(in_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, T, C) -> (b, T, C)."""
        out = x.transpose(1, 2)
        residual = out
        branches = [conv(out) for conv in self.pdc]
        branches.append(self.non_local(self.tsa_in(out)))
        out = self.fuse(torch.cat(branches, dim=1)) + residual
        return out.transpose(1, 2)


class RTFM(nn.Module):
    """RTFM detector: MTN → Dropout(0.7) = X; head C→512→128→1 (ReLU, Dropout), sigmoid, crop mean.

    24,718,849 parameters at C = 2048 (the released ``Model``).
    """

    def __init__(self, in_dim: int, width: int = 512, head: Sequence[int] = (512, 128), dropout: float = 0.7) -> None:
        super().__init__()
        self.aggregate = Aggregate(in_dim, width)
        self.drop = nn.Dropout(dropout)
        dims = [in_dim, *head]
        self.fcs = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(len(dims) - 1))
        self.out = nn.Linear(dims[-1], 1)
        self.apply(xavier_init)

    def forward(self, x: torch.Tensor) -> BagOutput:
        """(B, N, T, C) -> scores (B, T), features (B*N, T, C)."""
        b, n, t, c = check_bags(x)
        feats = self.drop(self.aggregate(x.reshape(b * n, t, c)))
        h = feats
        for fc in self.fcs:
            h = self.drop(F.relu(fc(h)))
        scores = torch.sigmoid(self.out(h)).view(b, n, t).mean(1)
        return BagOutput(scores=scores, features=feats)


# --------------------------------------------------------------------------------------------------
# MGFN: glance-and-focus network with feature amplification (FAM)
# --------------------------------------------------------------------------------------------------
class ChannelLayerNorm(nn.Module):
    """MGFN's channel LayerNorm on (b, C, T): (x − mean) / (std + eps) · g + b, biased std."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1, dim, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = torch.var(x, dim=1, unbiased=False, keepdim=True).sqrt()
        mean = torch.mean(x, dim=1, keepdim=True)
        return (x - mean) / (std + self.eps) * self.g + self.b


class Glance(nn.Module):
    """Glance block: cLN → qkv 1×1 (64 channels per head, no bias) → softmax(q kᵀ / 8) v over all T → 1×1."""

    def __init__(self, dim: int, heads: int, dim_head: int = 64) -> None:
        super().__init__()
        self.heads = heads
        self.scale = dim_head**-0.5
        inner = dim_head * heads
        self.norm = ChannelLayerNorm(dim)
        self.to_qkv = nn.Conv1d(dim, inner * 3, 1, bias=False)
        self.to_out = nn.Conv1d(inner, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t = x.shape
        q, k, v = self.to_qkv(self.norm(x)).chunk(3, dim=1)
        q, k, v = (z.reshape(b, self.heads, -1, t).transpose(2, 3) for z in (q, k, v))  # (b, h, T, d)
        attn = torch.matmul(q * self.scale, k.transpose(2, 3)).softmax(dim=-1)
        out = torch.matmul(attn, v).transpose(2, 3).reshape(b, -1, t)
        return self.to_out(out)


class Focus(nn.Module):
    """Focus block: BN → v 1×1 (64h, no bias) → per-channel-group Conv1d(h, h, k5, groups=h) → 1×1.

    The view (b, 64h, T) → (b·64, h, T) maps channel ``c·h + j`` to row c, head j (einops
    ``'b (c h) ... -> (b c) h ...'`` in the reference).
    """

    def __init__(self, dim: int, heads: int, dim_head: int = 64, kernel: int = 5) -> None:
        super().__init__()
        self.heads = heads
        inner = dim_head * heads
        self.norm = nn.BatchNorm1d(dim)
        self.to_v = nn.Conv1d(dim, inner, 1, bias=False)
        self.rel_pos = nn.Conv1d(heads, heads, kernel, padding=kernel // 2, groups=heads)
        self.to_out = nn.Conv1d(inner, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t = x.shape
        v = self.to_v(self.norm(x))
        out = self.rel_pos(v.reshape(-1, self.heads, t))
        return self.to_out(out.reshape(b, -1, t))


class MGFNBlock(nn.Module):
    """x += Conv1d(k3)(x); x += Attn(x); x += FF(x), FF = cLN → 1×1 (4d) → GELU → 1×1 (d)."""

    def __init__(self, dim: int, heads: int, kind: str, dim_head: int = 64, kernel: int = 5, ff_mult: int = 4) -> None:
        super().__init__()
        self.scc = nn.Conv1d(dim, dim, 3, padding=1)
        if kind == "glance":
            self.attn: nn.Module = Glance(dim, heads, dim_head)
        elif kind == "focus":
            self.attn = Focus(dim, heads, dim_head, kernel)
        else:
            raise ValueError(f"unknown MGFN block type {kind!r} (glance | focus)")
        self.ff = nn.Sequential(ChannelLayerNorm(dim), nn.Conv1d(dim, dim * ff_mult, 1), nn.GELU(),
                                nn.Conv1d(dim * ff_mult, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scc(x) + x
        x = self.attn(x) + x
        return self.ff(x) + x


class MGFN(nn.Module):
    """MGFN detector (28,652,773 parameters at C = 2048 with the published stages).

    FAM: x = Conv1d(C→d₀, k3)(feat) + mag_ratio · Conv1d(1→d₀, k3)(‖feat‖₂), the magnitude taken
    per crop and snippet (or segment) from the input, as the reference appends it to the features.
    Stages (64, 128, 1024) × depths (3, 3, 2) of (glance, focus, focus) blocks with h = dim / 64
    heads; between stages cLN → 1×1. Output: LayerNorm(1024) = X; score = sigmoid(Linear(X)).
    """

    def __init__(self, in_dim: int, dims: Sequence[int] = (64, 128, 1024), depths: Sequence[int] = (3, 3, 2),
                 types: Sequence[str] = ("glance", "focus", "focus"), dim_head: int = 64, kernel: int = 5,
                 ff_mult: int = 4, mag_ratio: float = 0.1) -> None:
        super().__init__()
        if not len(dims) == len(depths) == len(types):
            raise ValueError("MGFN dims, depths and types must have the same length")
        self.mag_ratio = mag_ratio
        self.to_tokens = nn.Conv1d(in_dim, dims[0], 3, padding=1)
        self.to_mag = nn.Conv1d(1, dims[0], 3, padding=1)
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for i, (dim, depth, kind) in enumerate(zip(dims, depths, types, strict=True)):
            heads = max(dim // dim_head, 1)
            self.stages.append(nn.Sequential(*[MGFNBlock(dim, heads, kind, dim_head, kernel, ff_mult)
                                               for _ in range(depth)]))
            if i < len(dims) - 1:
                self.transitions.append(nn.Sequential(ChannelLayerNorm(dim), nn.Conv1d(dim, dims[i + 1], 1)))
        self.norm = nn.LayerNorm(dims[-1])
        self.fc = nn.Linear(dims[-1], 1)

    def forward(self, x: torch.Tensor) -> BagOutput:
        """(B, N, T, C) -> scores (B, T), features (B*N, T, dims[-1])."""
        b, n, t, c = check_bags(x)
        x = x.reshape(b * n, t, c).transpose(1, 2)  # (BN, C, T)
        mag = x.norm(p=2, dim=1, keepdim=True)
        h = self.to_tokens(x) + self.mag_ratio * self.to_mag(mag)
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i < len(self.transitions):
                h = self.transitions[i](h)
        feats = self.norm(h.transpose(1, 2))
        scores = torch.sigmoid(self.fc(feats)).view(b, n, t).mean(1)
        return BagOutput(scores=scores, features=feats)


# --------------------------------------------------------------------------------------------------
# S3R: dictionary-based en-Normal / de-Normal modules + RTFM-style heads
# --------------------------------------------------------------------------------------------------
class NonLocalGN1d(NonLocal1d):
    """S3R's non-local block (same arithmetic as RTFM's; BN output, zero-initialised)."""


def _group_norm(groups: int, channels: int) -> nn.GroupNorm:
    """GroupNorm with ``groups`` groups, or the largest common divisor when ``channels`` is not a multiple."""
    return nn.GroupNorm(math.gcd(groups, channels), channels, eps=1e-5)


class AggregateGN(Aggregate):
    """S3R's Aggregate: the MTN with GroupNorm(8) in place of BN (Conv → GN → ReLU), inner width C/4.

    ``reduction`` (published 4) sets the inner width C / reduction; when a width is not a multiple of
    8 the GroupNorm uses gcd(8, width) groups (the released code needs C divisible by 32).
    """

    def __init__(self, dim: int, reduction: int = 4, groups: int = 8) -> None:
        nn.Module.__init__(self)  # own layers; forward is Aggregate's
        inner = max(dim // reduction, 1)
        self.pdc = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, inner, 3, dilation=d, padding=d), _group_norm(groups, inner), nn.ReLU())
            for d in (1, 2, 4)
        )
        self.tsa_in = nn.Sequential(nn.Conv1d(dim, inner, 1, bias=False), nn.ReLU())
        self.non_local = NonLocalGN1d(inner)
        self.fuse = nn.Sequential(nn.Conv1d(4 * inner, dim, 3, padding=1, bias=False), _group_norm(groups, dim),
                                  nn.ReLU())


class EnNormal(nn.Module):
    """en-Normal: q = Linear(C→C/4)(x), k = Linear(C→C/4)(atoms), v = Linear(C→C)(atoms); softmax_S(q kᵀ) v.

    Unscaled dot products, no shrinkage (the released module sets ``shrink_thres=0``).
    """

    def __init__(self, dim: int, reduction: int = 4) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim // reduction)
        self.key = nn.Linear(dim, dim // reduction)
        self.value = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
        """x (b, T, C), atoms (S, C) -> macro (b, T, C)."""
        affinity = (self.query(x) @ self.key(atoms).t()).softmax(dim=-1)  # (b, T, S)
        return affinity @ self.value(atoms)


class DeNormal(nn.Module):
    """de-Normal: w = σ(MLP(avg_T x_v − avg_T x_m)), MLP C→C/16→C; x_v·w, x_m·(1 − w)."""

    def __init__(self, dim: int, reduction: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, dim // reduction), nn.ReLU(), nn.Linear(dim // reduction, dim))

    def forward(self, video: torch.Tensor, macro: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(b, T, C) pair -> (b, T, C) pair."""
        w = torch.sigmoid(self.mlp(video.mean(1) - macro.mean(1))).unsqueeze(1)
        return video * w, macro * (1.0 - w)


class S3R(nn.Module):
    """S3R detector. ``atoms`` (S, C), the sparse dictionary, is a buffer saved with the weights.

    Video branch: AggregateGN + Dropout → de-Normal → head C→C/4→C/16→1 (ReLU, Dropout) → sigmoid
    → crop mean (RTFM's head at C = 2048). Macro branch: en-Normal(x, atoms) → AggregateGN +
    Dropout → de-Normal → avg_T → MLP (same widths) → sigmoid → crop mean. The released model's
    unused projection convolutions are omitted. ``reduction`` = 4 is the released Aggregate width.
    """

    def __init__(self, in_dim: int, atoms: torch.Tensor, dropout: float = 0.7, reduction: int = 4) -> None:
        super().__init__()
        self.register_buffer("atoms", atoms.detach().clone().float())
        self.video_embedding = nn.Sequential(AggregateGN(in_dim, reduction), nn.Dropout(dropout))
        self.macro_embedding = nn.Sequential(AggregateGN(in_dim, reduction), nn.Dropout(dropout))
        self.en_normal = EnNormal(in_dim)
        self.de_normal = DeNormal(in_dim)

        def mlp() -> nn.Sequential:
            return nn.Sequential(nn.Linear(in_dim, in_dim // 4), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(in_dim // 4, in_dim // 16), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(in_dim // 16, 1))

        self.video_classifier = mlp()
        self.macro_classifier = mlp()
        self.apply(xavier_init)

    def forward(self, x: torch.Tensor) -> BagOutput:
        """(B, N, T, C) -> scores (B, T), features (B*N, T, C), macro (B,)."""
        b, n, t, c = check_bags(x)
        video = x.reshape(b * n, t, c)
        macro = self.en_normal(video, self.atoms)
        x_video = self.video_embedding(video)
        x_macro = self.macro_embedding(macro)
        x_video, x_macro = self.de_normal(x_video, x_macro)
        scores = torch.sigmoid(self.video_classifier(x_video)).view(b, n, t).mean(1)
        macro_scores = torch.sigmoid(self.macro_classifier(x_macro.mean(1))).view(b, n).mean(1)
        return BagOutput(scores=scores, features=x_video, macro=macro_scores)


# --------------------------------------------------------------------------------------------------
# Registry: parameters say ``method: rtfm`` plus a ``model`` block; defaults live in the yml.
# --------------------------------------------------------------------------------------------------
def build_model(method: str, cfg: Mapping[str, Any], in_dim: int, atoms: torch.Tensor | None = None) -> nn.Module:
    """Instantiate the detector named ``method`` for ``in_dim``-channel features from its ``model`` block
    (the typed ``weak_supervision.<method>.model``, or the plain dict a checkpoint stores)."""
    if method == "mil":
        return MILRanker(in_dim, tuple(cfg["hidden"]), float(cfg["dropout"]))
    if method == "rtfm":
        return RTFM(in_dim, int(cfg["width"]), tuple(cfg["head"]), float(cfg["dropout"]))
    if method == "mgfn":
        return MGFN(in_dim, tuple(cfg["dims"]), tuple(cfg["depths"]), tuple(cfg["types"]), int(cfg["dim_head"]),
                    int(cfg["kernel"]), int(cfg["ff_mult"]), float(cfg["mag_ratio"]))
    if method == "s3r":
        if atoms is None:
            raise ValueError("S3R needs its dictionary atoms")
        return S3R(in_dim, atoms, float(cfg["dropout"]), int(cfg["reduction"]))
    raise ValueError(f"unknown weak-supervision method {method!r} (mil | rtfm | mgfn | s3r)")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
